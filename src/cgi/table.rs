//! The command table: one declaration per guide command, in the guide's order. A declaration
//! holds what the daemon decides about the command (its handler, or why it is not available;
//! who may run it; whether it runs in setup mode; its upload field; the settings section it
//! reads or writes); the guide's facts (privilege, typed parameters and return fields) are the
//! catalogue entry at the same position, generated from `spec/cgi-commands.toml`. Tests below
//! hold the two together and check the table's rules.
//!
//! # Adding a command's handler
//! Write `fn my_command(req: &Request) -> CgiResult<Reply>` in the `commands/` file of its
//! guide chapter, then replace its `pending(..)` line here with `c("myCommand", file::my_command)`
//! plus the policies it needs. Parameters are read through [`Request`]'s typed readers, which
//! validate them against the catalogue.

use super::catalogue::{COMMANDS, CommandSpec};
use super::command::{Command, c, not_available};
use super::commands::{alarm, config, device, network, ptz, record, stream, system, user, video};

/// The command a `cmd` value names (its name or one of the guide's other spellings), with
/// the guide's facts about it.
pub fn find(cmd: &str) -> Option<(&'static Command, &'static CommandSpec)> {
    let index = COMMANDS
        .iter()
        .position(|c| c.name == cmd || c.aliases.contains(&cmd))?;
    Some((&TABLE[index], &COMMANDS[index]))
}

/// Every declaration with its catalogue entry, in the guide's order.
pub fn all() -> impl Iterator<Item = (&'static Command, &'static CommandSpec)> {
    TABLE.iter().zip(COMMANDS.iter())
}

/// A plain getter of `section`'s fields.
const fn plain_get(name: &'static str, section: &'static str) -> Command {
    Command {
        plain: true,
        ..c(name, config::get_section).settings(section)
    }
}

/// A plain setter of `section`'s fields.
const fn plain_set(name: &'static str, section: &'static str) -> Command {
    Command {
        plain: true,
        ..c(name, config::set_section).settings(section)
    }
}

const fn pending(name: &'static str, why: &'static str) -> Command {
    Command {
        handler: None,
        pending: Some(why),
        ..c(name, not_available)
    }
}

/// Every command of the guide, in the catalogue's order.
pub static TABLE: &[Command] = &[
    // AV
    plain_get("getImageSetting", "image"),
    plain_set("setBrightness", "image"),
    plain_set("setContrast", "image"),
    plain_set("setHue", "image"),
    plain_set("setSaturation", "image"),
    plain_set("setSharpness", "image"),
    c("resetImageSetting", config::reset_image_setting).settings("image"),
    plain_get("getMirrorAndFlipSetting", "mirror_flip"),
    plain_set("mirrorVideo", "mirror_flip"),
    plain_set("flipVideo", "mirror_flip"),
    plain_get("getRatio", "ratio"),
    plain_set("setRatio", "ratio"),
    plain_get("getH264FrmRefMode", "h264_frame_ref"),
    plain_set("setH264FrmRefMode", "h264_frame_ref"),
    plain_get("getScheduleRecordStreamChn", "record_stream"),
    plain_set("setScheduleRecordStreamChn", "record_stream"),
    plain_set("setPwrFreq", "power_frequency"),
    c("getVideoStreamParam", stream::get_stream_param).settings("main_stream"),
    c("setVideoStreamParam", stream::set_stream_param).settings("main_stream"),
    c("getSubVideoStreamParam", stream::get_stream_param).settings("sub_stream"),
    c("setSubVideoStreamParam", stream::set_stream_param).settings("sub_stream"),
    plain_get("getMainVideoStreamType", "main_stream_type"),
    plain_get("getSubVideoStreamType", "sub_stream_type"),
    plain_set("setMainVideoStreamType", "main_stream_type"),
    plain_set("setSubStreamFormat", "sub_stream_format"),
    c("GetMJStream", video::get_mj_stream),
    plain_get("getOSDSetting", "osd"),
    plain_set("setOSDSetting", "osd"),
    plain_get("getOsdMaskArea", "osd_mask_area"),
    plain_set("setOsdMaskArea", "osd_mask_area"),
    plain_get("getOSDMask", "osd"),
    plain_set("setOSDMask", "osd"),
    plain_get("getMotionDetectConfig", "motion"),
    plain_set("setMotionDetectConfig", "motion"),
    plain_set("setLocalAlarmRecordConfig", "local_alarm_record"),
    plain_get("getLocalAlarmRecordConfig", "local_alarm_record"),
    plain_get("getSnapConfig", "snap"),
    plain_set("setSnapConfig", "snap"),
    plain_get("getScheduleSnapConfig", "schedule_snap"),
    plain_set("setScheduleSnapConfig", "schedule_snap"),
    c("snapPicture", video::snap_picture),
    c("snapPicture2", video::snap_picture2),
    c("getRecordList", record::get_record_list),
    c("getRecordList2", record::get_record_list),
    c("reloadRecordindex", record::reload_record_index),
    plain_get("getAlarmRecordConfig", "alarm_record"),
    plain_set("setAlarmRecordConfig", "alarm_record"),
    c("getRecordPath", device::get_record_path),
    plain_get("getScheduleRecordConfig", "schedule_record"),
    plain_set("setScheduleRecordConfig", "schedule_record"),
    plain_set("setIOAlarmConfig", "io_alarm"),
    plain_get("getIOAlarmConfig", "io_alarm"),
    c("clearIOAlarmOutput", alarm::clear_io_alarm_output),
    plain_set("setPCAudioAlarmCfg", "pc_audio_alarm"),
    plain_get("getPCAudioAlarmCfg", "pc_audio_alarm"),
    c("getMultiDevList", device::get_multi_dev_list),
    c("getMultiDevDetailInfo", device::get_multi_dev_detail_info),
    c("addMultiDev", device::add_multi_dev),
    c("delMultiDev", device::del_multi_dev),
    // User account
    c("addAccount", user::add_account),
    c("delAccount", user::del_account),
    c("changePassword", user::change_password)
        .self_service()
        .in_setup_mode(),
    c("changeUserName", user::change_user_name).self_service(),
    c(
        "changeUserNameAndPwdTogether",
        user::change_user_name_and_pwd_together,
    )
    .self_service()
    .in_setup_mode(),
    c("logIn", user::log_in).in_setup_mode(),
    c("logOut", user::log_out).in_setup_mode(),
    c("getSessionList", user::get_session_list),
    c("getUserList", user::get_user_list),
    c("usrBeatHeart", user::usr_beat_heart).in_setup_mode(),
    // PTZ
    c("ptzMoveUp", ptz::ptz_move_up),
    c("ptzMoveDown", ptz::ptz_move_down),
    c("ptzMoveLeft", ptz::ptz_move_left),
    c("ptzMoveRight", ptz::ptz_move_right),
    c("ptzMoveTopLeft", ptz::ptz_move_top_left),
    c("ptzMoveTopRight", ptz::ptz_move_top_right),
    c("ptzMoveBottomLeft", ptz::ptz_move_bottom_left),
    c("ptzMoveBottomRight", ptz::ptz_move_bottom_right),
    c("ptzStopRun", ptz::ptz_stop_run),
    c("ptzReset", ptz::ptz_reset),
    plain_get("getPTZSpeed", "ptz_speed"),
    plain_set("setPTZSpeed", "ptz_speed"),
    c("getPTZPresetPointList", ptz::get_ptz_preset_point_list),
    c("ptzAddPresetPoint", ptz::ptz_add_preset_point),
    c("ptzDeletePresetPoint", ptz::ptz_delete_preset_point),
    c("ptzGotoPresetPoint", ptz::ptz_goto_preset_point),
    c("ptzGetCruiseMapList", ptz::ptz_get_cruise_map_list),
    c("ptzGetCruiseMapInfo", ptz::ptz_get_cruise_map_info),
    c("ptzSetCruiseMap", ptz::ptz_set_cruise_map),
    c("ptzDelCruiseMap", ptz::ptz_del_cruise_map),
    c("ptzStartCruise", ptz::ptz_start_cruise),
    c("ptzStopCruise", ptz::ptz_stop_cruise),
    plain_set("setCruiseTime", "cruise_time"),
    plain_get("getCruiseTime", "cruise_time"),
    plain_set("setCruiseTimeCustomed", "cruise_time_customed"),
    plain_get("getCruiseTimeCustomed", "cruise_time_customed"),
    plain_set("setCruiseLoopCnt", "cruise_loop"),
    plain_get("getCruiseLoopCnt", "cruise_loop"),
    plain_set("setCruiseCtrlMode", "cruise_mode"),
    plain_get("getCruiseCtrlMode", "cruise_mode"),
    c(
        "setCruisePrePointLingerTime",
        ptz::set_cruise_pre_point_linger_time,
    ),
    c(
        "getCruisePrePointLingerTime",
        ptz::get_cruise_pre_point_linger_time,
    ),
    c("zoomIn", ptz::zoom_in),
    c("zoomOut", ptz::zoom_out),
    c("zoomStop", ptz::zoom_stop),
    plain_get("getZoomSpeed", "zoom_speed"),
    plain_set("setZoomSpeed", "zoom_speed"),
    plain_set("setPTZSelfTestMode", "ptz_selftest"),
    plain_get("getPTZSelfTestMode", "ptz_selftest"),
    c(
        "setPTZPrePointForSelfTest",
        ptz::set_ptz_pre_point_for_self_test,
    )
    .settings("ptz_selftest"),
    c(
        "getPTZPrePointForSelfTest",
        ptz::get_ptz_pre_point_for_self_test,
    )
    .settings("ptz_selftest"),
    plain_set("set485Info", "rs485"),
    plain_get("get485Info", "rs485"),
    // Network
    c("getIPInfo", network::get_ip_info).settings("ip"),
    c("setIpInfo", network::set_ip_info).settings("ip"),
    c("refreshWifiList", network::refresh_wifi_list),
    c("getWifiList", network::get_wifi_list),
    c("setWifiSetting", network::set_wifi_setting).settings("wifi"),
    c("getWifiConfig", network::get_wifi_config).settings("wifi"),
    plain_get("getPortInfo", "ports").no_auth().in_setup_mode(),
    c("setPortInfo", network::set_port_info).settings("ports"),
    plain_get("getUPnPConfig", "upnp"),
    plain_set("setUPnPConfig", "upnp"),
    plain_get("getDDNSConfig", "ddns"),
    c("setDDNSConfig", network::set_ddns_config).settings("ddns"),
    plain_set("setFtpConfig", "ftp"),
    plain_get("getFtpConfig", "ftp"),
    c("testFtpServer", alarm::test_ftp_server),
    plain_get("getSMTPConfig", "smtp"),
    plain_set("setSMTPConfig", "smtp"),
    c("smtpTest", alarm::smtp_test),
    c("setP2PEnable", network::set_p2p).settings("p2p"),
    plain_get("getP2PEnable", "p2p"),
    c("setP2PPort", network::set_p2p).settings("p2p_port"),
    plain_get("getP2PPort", "p2p_port"),
    c("getP2PInfo", device::get_p2p_info),
    plain_get("getPPPoEConfig", "pppoe"),
    c("setPPPoEConfig", network::set_pppoe_config).settings("pppoe"),
    // Device manage
    c("setSystemTime", device::set_system_time).settings("time"),
    c("getSystemTime", device::get_system_time).settings("time"),
    c("openInfraLed", alarm::open_infra_led),
    c("closeInfraLed", alarm::close_infra_led),
    plain_get("getInfraLedConfig", "infra_led"),
    plain_set("setInfraLedConfig", "infra_led"),
    plain_get("getScheduleInfraLedConfig", "infra_led_schedule"),
    plain_set("setScheduleInfraLedConfig", "infra_led_schedule"),
    c("getDevState", device::get_dev_state),
    plain_get("getDevName", "dev_name"),
    plain_set("setDevName", "dev_name"),
    c("getDevInfo", device::get_dev_info),
    c("getProductModel", device::product_info).in_setup_mode(),
    c("getProductModelName", device::product_info).in_setup_mode(),
    c("getProductLanguage", device::product_info).in_setup_mode(),
    c("getProductSensorType", device::product_info).in_setup_mode(),
    c("getProductWifiType", device::product_info).in_setup_mode(),
    c("getProductSdFlag", device::product_info).in_setup_mode(),
    c("getProductOutdoorFlag", device::product_info).in_setup_mode(),
    c("getProductPtFlag", device::product_info).in_setup_mode(),
    c("getProductZoomFlag", device::product_info).in_setup_mode(),
    c("getProductRs485Flag", device::product_info).in_setup_mode(),
    c("getProductIoAlarmFlag", device::product_info).in_setup_mode(),
    c("getProductOnvifFlag", device::product_info).in_setup_mode(),
    c("getProductP2pFlag", device::product_info).in_setup_mode(),
    c("getProductWpsFlag", device::product_info).in_setup_mode(),
    c("getProductAudioFlag", device::product_info).in_setup_mode(),
    c("getProductTalkFlag", device::product_info).in_setup_mode(),
    c("getProductAppVer", device::product_info).in_setup_mode(),
    c("getProductAllInfo", device::product_info).in_setup_mode(),
    pending(
        "getGeneratePubKey",
        "the guide does not document the key algorithm",
    ),
    pending(
        "toolResetToFactory",
        "the guide does not document the reset-code algorithm",
    ),
    // System
    c("rebootSystem", system::reboot_system),
    c(
        "restoreToFactorySetting",
        device::restore_to_factory_setting,
    ),
    c("exportConfig", system::export_config),
    c("importConfig", system::import_config)
        .upload("setting_file")
        .deadline(super::command::UPLOAD_COMMAND_DEADLINE),
    c("fwUpgrade", system::fw_upgrade)
        .upload("fw_file")
        .deadline(super::command::UPLOAD_COMMAND_DEADLINE),
    // MISC
    plain_get("getFirewallConfig", "firewall"),
    c("setFirewallConfig", network::set_firewall_config).settings("firewall"),
    c("getLog", device::get_log),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgi::catalogue::Privilege;
    use crate::cgi::command::Auth;

    #[test]
    fn test_table_and_catalogue_name_the_same_commands_in_order() {
        assert_eq!(TABLE.len(), COMMANDS.len());
        for (decl, spec) in all() {
            assert_eq!(decl.name, spec.name);
        }
        assert_eq!(
            super::super::catalogue::find("getCuriseTime").map(|c| c.name),
            Some("getCruiseTime")
        );
        assert_eq!(
            find("getCuriseTime").map(|(c, _)| c.name),
            Some("getCruiseTime")
        );
    }

    #[test]
    fn test_every_command_has_a_handler_or_says_why_not() {
        for decl in TABLE {
            assert!(
                decl.handler.is_some() != decl.pending.is_some(),
                "{}: a handler or a reason, not both",
                decl.name
            );
        }
    }

    #[test]
    fn test_every_setter_needs_at_least_operator() {
        for (decl, spec) in all() {
            if spec.name.starts_with("set") {
                assert!(
                    decl.privilege() >= Privilege::Operator,
                    "{} runs for visitors",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn test_account_firmware_import_and_reboot_need_admin() {
        for name in [
            "addAccount",
            "delAccount",
            "getUserList",
            "getSessionList",
            "fwUpgrade",
            "importConfig",
            "exportConfig",
            "rebootSystem",
            "restoreToFactorySetting",
        ] {
            let (decl, _) = find(name).unwrap();
            assert_eq!(decl.privilege(), Privilege::Admin, "{name}");
            assert!(
                !decl.setup_mode || name == "logIn",
                "{name} runs in setup mode"
            );
        }
    }

    #[test]
    fn test_only_upload_commands_get_the_long_deadline() {
        for (cmd, spec) in all() {
            let long = cmd.deadline > super::super::command::COMMAND_DEADLINE;
            assert_eq!(long, spec.post, "{}", cmd.name);
        }
    }

    #[test]
    fn test_only_post_commands_take_uploads_and_every_one_names_its_field() {
        for (decl, spec) in all() {
            assert_eq!(decl.upload.is_some(), spec.post, "{}", spec.name);
        }
    }

    #[test]
    fn test_only_the_guides_exception_runs_without_credentials() {
        let open: Vec<_> = TABLE
            .iter()
            .filter(|d| d.auth == Auth::None)
            .map(|d| d.name)
            .collect();
        assert_eq!(open, ["getPortInfo"]);
    }

    #[test]
    fn test_every_field_of_a_settings_command_is_a_field_of_its_section() {
        let board = ipcamd_hal::board::BoardSpec::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(crate::store::Store::open(&dir.path().join("db")).unwrap());
        let snapshot = crate::settings::Settings::new(store, std::sync::Arc::new(board)).factory();
        let mut checked = 0;
        for (decl, spec) in all().filter(|(d, _)| d.plain) {
            let section = snapshot.section(decl.settings.unwrap()).unwrap();
            for field in spec.params.iter().chain(spec.returns) {
                assert!(
                    section.value(field.name).is_some(),
                    "{}.{} is not a field of section {}",
                    spec.name,
                    field.name,
                    section.name()
                );
                checked += 1;
            }
        }
        assert!(checked > 150, "{checked} fields");
    }

    #[test]
    fn test_settings_sections_exist() {
        for decl in TABLE {
            if let Some(section) = decl.settings {
                assert!(
                    crate::settings::SECTION_NAMES.contains(&section),
                    "{}: no section {section}",
                    decl.name
                );
            }
        }
    }

    /// A getter: its name says so (GetMJStream is a stream, not a reply of fields).
    fn is_getter(decl: &Command, spec: &CommandSpec) -> bool {
        decl.name.starts_with("get") && spec.response == "xml"
    }

    /// A setter: its name says so, or it is a plain setter of a section (mirrorVideo).
    fn is_setter(decl: &Command) -> bool {
        decl.name.starts_with("set") || (decl.plain && !decl.name.starts_with("get"))
    }

    /// The get/set pairs of the table: a setter and a getter of the same name after the
    /// prefix (any case: setIpInfo, getIPInfo), or of the same settings section with a wire
    /// name in common (setBrightness, getImageSetting).
    fn get_set_pairs() -> Vec<(&'static Command, &'static Command)> {
        let mut pairs = Vec::new();
        for (setter, set_spec) in all().filter(|(d, _)| is_setter(d)) {
            let stem = setter.name.trim_start_matches("set").to_ascii_lowercase();
            for (getter, get_spec) in all().filter(|(d, s)| is_getter(d, s)) {
                let same_name = getter.name["get".len()..].to_ascii_lowercase() == stem;
                let same_section = setter.settings.is_some()
                    && setter.settings == getter.settings
                    && set_spec.params.iter().any(|p| {
                        get_spec
                            .returns
                            .iter()
                            .any(|r| r.name == p.name || p.aliases.contains(&r.name))
                    });
                if same_name || same_section {
                    pairs.push((setter, getter));
                }
            }
        }
        pairs
    }

    /// Setters left out of the round trip, each with why.
    const ROUND_TRIP_EXCEPTIONS: &[(&str, &str)] = &[
        (
            "setVideoStreamParam",
            "its getter answers all four stream types (resolution0..3, ...), the setter takes one \
             (streamType, resolution, ...): no wire name in common; \
             tests/cgi/settings.rs round-trips it per stream type",
        ),
        (
            "setSubVideoStreamParam",
            "as setVideoStreamParam, for the sub stream",
        ),
        (
            "setP2PEnable",
            "P2P is Foscam's proprietary cloud: no board has it, the setter answers -4 by design",
        ),
        ("setP2PPort", "as setP2PEnable"),
    ];

    /// Setters the guide gives no getter, each with why it is left out.
    const WITHOUT_GETTER: &[(&str, &str)] = &[
        (
            "setPwrFreq",
            "the guide has no getter of the power-line frequency",
        ),
        (
            "setSubStreamFormat",
            "the guide has no getter of the sub stream format",
        ),
    ];

    /// Getter fields that change by themselves between two reads.
    const LIVE_FIELDS: &[(&str, &[&str])] = &[(
        "getSystemTime",
        &[
            "year", "month", "mon", "day", "hour", "min", "minute", "sec",
        ],
    )];

    /// What a getter with parameters is asked for (the object a client reads, then writes).
    const GETTER_ARGS: &[(&str, &[(&str, &str)])] =
        &[("getCruisePrePointLingerTime", &[("name", "Vertical")])];

    fn reply_fields(outcome: &crate::cgi::Outcome) -> Vec<(String, String)> {
        match &outcome.reply {
            crate::cgi::reply::Reply::Xml(fields) => fields
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            other => panic!("{:?}: not an XML reply: {other:?}", outcome.command),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_every_get_set_pair_round_trips_what_the_getter_answers() {
        let pairs = get_set_pairs();
        for (name, why) in ROUND_TRIP_EXCEPTIONS.iter().chain(WITHOUT_GETTER) {
            assert!(!why.is_empty());
            assert!(find(name).is_some(), "{name}: no such command");
        }
        // Every setter is paired, or listed with why it is not.
        for decl in TABLE.iter().filter(|d| is_setter(d)) {
            let paired = pairs.iter().any(|(s, _)| s.name == decl.name);
            let without = WITHOUT_GETTER.iter().any(|(n, _)| *n == decl.name);
            assert!(
                paired != without,
                "{}: paired {paired}, listed as without a getter {without}",
                decl.name
            );
        }
        let cam = crate::daemon::testing::SimCamera::start().await;
        // On a fresh camera (factory values, nothing appointed), then with every setting
        // changed to another valid value.
        let (failures, checked) = round_trip(&cam, &pairs).await;
        assert!(
            failures.is_empty(),
            "factory state:\n{}",
            failures.join("\n")
        );
        // Fewer without a motor controller: the PTZ chapter answers -4 there.
        let motor = cam.ctx.hal.ptz.is_some();
        assert!(checked > if motor { 40 } else { 30 }, "{checked} pairs");
        let (mut changed, mut refused) = (0, Vec::new());
        for (setter, _) in &pairs {
            if ROUND_TRIP_EXCEPTIONS
                .iter()
                .chain(KEEP_FACTORY)
                .any(|(n, _)| *n == setter.name)
            {
                continue;
            }
            let spec = setter.spec();
            let values: Vec<(&str, String)> = spec
                .params
                .iter()
                .map(|p| (p.name, valid_value(spec.name, p)))
                .collect();
            let params: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let outcome = cam.cgi(setter.name, &params).await;
            if refused_for_want_of_a_motor(&cam, setter, outcome.code) {
                continue;
            }
            if outcome.code == 0 {
                changed += 1;
            } else {
                refused.push(format!(
                    "{} {params:?} answers {}",
                    setter.name, outcome.code
                ));
            }
        }
        assert!(refused.is_empty(), "{}", refused.join("\n"));
        assert!(changed > if motor { 30 } else { 20 }, "{changed} setters");
        let (failures, _) = round_trip(&cam, &pairs).await;
        assert!(
            failures.is_empty(),
            "changed settings:\n{}",
            failures.join("\n")
        );
    }

    /// Setters the round trip runs on factory values only, each with why.
    const KEEP_FACTORY: &[(&str, &str)] = &[
        (
            "setScheduleRecordStreamChn",
            "the sub stream (1) is recorded as H.264, and the factory sub stream is MJPEG: -4 \
             (tests/cgi/recording.rs checks both orders)",
        ),
        (
            "setIpInfo",
            "the interface takes a new address after the reply: getIPInfo changes by itself",
        ),
        (
            "setWifiSetting",
            "the radio joins after the reply: getWifiConfig's isConnected changes by itself",
        ),
        (
            "setPPPoEConfig",
            "the dialler connects after the reply, changing the interface",
        ),
        (
            "setPortInfo",
            "the listeners move after the reply (and a low port needs privileges)",
        ),
    ];

    /// Whether `cmd` answered -4 because the camera has no motor controller (the simulated
    /// board under qemu-user, where its pty cannot be configured): the PTZ chapter, RS485
    /// included, is then refused as the guide says, and the checks skip it.
    fn refused_for_want_of_a_motor(
        cam: &crate::daemon::testing::SimCamera,
        cmd: &Command,
        code: i32,
    ) -> bool {
        code == -4 && cam.ctx.hal.ptz.is_none() && cmd.spec().section == "PTZ"
    }

    /// Runs every pair once: the getter, the setter given what it answered, the getter again.
    /// Failures (one line each) and the number of pairs checked.
    async fn round_trip(
        cam: &crate::daemon::testing::SimCamera,
        pairs: &[(&'static Command, &'static Command)],
    ) -> (Vec<String>, usize) {
        let mut failures = Vec::new();
        let mut checked = 0;
        for (setter, getter) in pairs {
            if ROUND_TRIP_EXCEPTIONS.iter().any(|(n, _)| *n == setter.name) {
                continue;
            }
            let args: &[(&str, &str)] = GETTER_ARGS
                .iter()
                .find(|(n, _)| *n == getter.name)
                .map_or(&[], |(_, args)| args);
            let live: &[&str] = LIVE_FIELDS
                .iter()
                .find(|(n, _)| *n == getter.name)
                .map_or(&[], |(_, fields)| fields);
            let settled = |fields: Vec<(String, String)>| -> Vec<(String, String)> {
                fields
                    .into_iter()
                    .filter(|(k, _)| !live.contains(&k.as_str()))
                    .collect()
            };
            let pair = format!("{} -> {}", getter.name, setter.name);
            let before = cam.cgi(getter.name, args).await;
            if refused_for_want_of_a_motor(cam, getter, before.code) {
                continue;
            }
            if before.code != 0 {
                failures.push(format!("{pair}: {} answers {}", getter.name, before.code));
                continue;
            }
            let before = reply_fields(&before);
            // What a client sends back: every setter parameter the getter answered (by the
            // parameter's name or one of its spellings), and the getter's own arguments.
            let mut sent: Vec<(&str, &str)> = Vec::new();
            for param in setter.spec().params {
                let value = args
                    .iter()
                    .find(|(k, _)| *k == param.name)
                    .map(|(_, v)| *v)
                    .or_else(|| {
                        before
                            .iter()
                            .find(|(k, _)| k == param.name || param.aliases.contains(&k.as_str()))
                            .map(|(_, v)| v.as_str())
                    });
                if let Some(value) = value {
                    sent.push((param.name, value));
                }
            }
            let set = cam.cgi(setter.name, &sent).await;
            if refused_for_want_of_a_motor(cam, setter, set.code) {
                continue;
            }
            if set.code != 0 {
                failures.push(format!(
                    "{pair}: {} {sent:?} answers {}",
                    setter.name, set.code
                ));
                continue;
            }
            let after = cam.cgi(getter.name, args).await;
            let after = reply_fields(&after);
            if settled(after.clone()) != settled(before.clone()) {
                failures.push(format!("{pair}: read back {after:?}, was {before:?}"));
            }
            checked += 1;
        }
        (failures, checked)
    }

    /// A value a client would send for a parameter: one the handler accepts, so that it reads
    /// on past it. Objects named by a parameter exist on a fresh simulated camera.
    fn valid_value(command: &str, field: &crate::cgi::catalogue::FieldSpec) -> String {
        use crate::cgi::catalogue::FieldKind;
        let special = match (command, field.name) {
            ("ptzSetCruiseMap", "name") => Some("patrol"),
            ("ptzSetCruiseMap", _) => Some("TopMost"),
            ("setCruisePrePointLingerTime" | "getCruisePrePointLingerTime", "name") => {
                Some("Vertical")
            }
            ("ptzStartCruise", "mapName") => Some("Vertical"),
            ("ptzAddPresetPoint", "name") => Some("door"),
            (_, "name") if command.starts_with("ptz") || command.contains("PTZ") => Some("TopMost"),
            // An account of its own, renamed in the table's order; the admin's stays as it is.
            ("addAccount" | "changePassword" | "changeUserName", "usrName") => Some("guest"),
            ("delAccount", "usrName") => Some("nobody"),
            ("changeUserName", "newUsrName") => Some("guest2"),
            ("changeUserNameAndPwdTogether", "usrName") => Some("guest2"),
            ("changeUserNameAndPwdTogether", "newUsrName") => Some("guest3"),
            (_, "usrPwd" | "oldPwd" | "newPwd") => Some("guest-pw1"),
            (_, "usrName") => Some("admin"),
            // logIn's own pwd is the request's pwd (one key).
            ("logIn", "pwd") => Some(""),
            ("addAccount", "privilege") => Some("0"),
            // Manual time: the clock fields count.
            ("setSystemTime", "timeSource") => Some("1"),
            ("setSystemTime", "year") => Some("2024"),
            ("setSystemTime", "timeZone") => Some("0"),
            (_, "month" | "day") => Some("1"),
            (_, "hour" | "min" | "sec") => Some("0"),
            (_, "ip") if command == "addMultiDev" => Some("192.168.1.20"),
            (_, "isDHCP") => Some("0"),
            (_, "gate") => Some("192.168.1.1"),
            (_, "mask") => Some("255.255.255.0"),
            (_, "ip" | "dns1" | "dns2") => Some("192.168.1.50"),
            (_, "remoteIp") => Some("127.0.0.1"),
            ("setDDNSConfig", "hostName") => Some("cam.example.org"),
            ("setDDNSConfig", "user" | "password") => Some("ddns-1"),
            (_, "groupId") => Some("1"),
            (_, "chnnl") => Some("1"),
            ("smtpTest" | "testFtpServer", "smtpServer" | "ftpAddr") => Some("127.0.0.1"),
            (_, "sender" | "reciever") => Some("cam@example.org"),
            (_, "startTime") => Some("0"),
            (_, "endTime") => Some("100"),
            (_, "recordPath") => Some("0"),
            (_, "streamType") => Some("0"),
            (_, "resolution") => Some("1"),
            _ => None,
        };
        if let Some(value) = special {
            return value.to_owned();
        }
        // A settings setter's own rules (the ranges the guide leaves open).
        if let Some((decl, _)) = find(command).filter(|(d, _)| d.settings.is_some()) {
            let section = decl.settings.unwrap_or_default();
            return super::config::example_value(section, field, 0);
        }
        match field.kind {
            FieldKind::Str => "ab1".into(),
            FieldKind::Ip => "192.168.1.50".into(),
            FieldKind::Bool01 => "1".into(),
            FieldKind::Int | FieldKind::Bitmask => {
                if let Some(first) = field.choices.first() {
                    first.to_string()
                } else if let Some(min) = field.min {
                    // Above the least, where there is room: a port or an interval of 1 is odd.
                    field
                        .max
                        .map_or(min + 1, |max| (min + 1).min(max))
                        .to_string()
                } else {
                    "1".into()
                }
            }
        }
    }

    /// Declared parameters a handler does not read, each with why.
    const UNREAD: &[(&str, &str, &str)] = &[];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn test_every_declared_parameter_is_read_by_its_handler() {
        for (cmd, param, why) in UNREAD {
            let (_, spec) = find(cmd).unwrap_or_else(|| panic!("{cmd}: no such command"));
            assert!(spec.param(param).is_some(), "{cmd}.{param}: not declared");
            assert!(!why.is_empty());
        }
        let cam = crate::daemon::testing::SimCamera::start().await;
        let mut failures = Vec::new();
        let mut checked = 0;
        for (decl, spec) in all() {
            if decl.handler.is_none() || spec.params.is_empty() {
                continue;
            }
            let values: Vec<(&str, String)> = spec
                .params
                .iter()
                .map(|p| (p.name, valid_value(spec.name, p)))
                .collect();
            let params: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let raw = crate::daemon::testing::query_string(spec.name, "admin", "", &params);
            let query = crate::cgi::query::Query::parse(&raw).unwrap();
            let log = query.clone();
            let outcome = crate::cgi::dispatch(
                cam.ctx.clone(),
                query,
                crate::daemon::testing::PEER.ip(),
                None,
            )
            .await;
            if refused_for_want_of_a_motor(&cam, decl, outcome.code) {
                continue;
            }
            let read = log.keys_read();
            let unread: Vec<&str> = spec
                .params
                .iter()
                .filter(|p| {
                    !read.contains(p.name)
                        && !p.aliases.iter().any(|a| read.contains(*a))
                        && !UNREAD
                            .iter()
                            .any(|(c, n, _)| *c == spec.name && *n == p.name)
                })
                .map(|p| p.name)
                .collect();
            if !unread.is_empty() {
                failures.push(format!(
                    "{} (answered {}) did not read {unread:?} of {params:?}",
                    spec.name, outcome.code
                ));
            }
            checked += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let floor = if cam.ctx.hal.ptz.is_some() { 50 } else { 30 };
        assert!(checked > floor, "{checked} commands");
    }
}
