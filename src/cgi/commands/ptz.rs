//! PTZ commands: moves, stop, go home, presets, cruise maps and cruises, zoom, and the
//! self-test preset. Without a motor on the board every one answers -4.

use std::time::Duration;

use ipcamd_hal::ptz::{Direction, PtzCommand};

use super::super::command::Request;
use super::super::context::Context;
use super::super::error::{CgiError, CgiResult, outcome_field};
use super::super::reply::{Fields, Reply};
use crate::ptz::{
    self, CruiseLimit, DEFAULT_CRUISES, LIMIT_PRESETS, MAX_CRUISE_MAPS, MAX_CRUISE_POINTS,
    MAX_PRESETS, Ptz, Step, Target,
};
use crate::store::CruiseRow;

/// Handlers of this chapter.
/// Longest linger at a cruise point, seconds.
const MAX_LINGER_SECS: i64 = 3600;
/// Linger at a point of a new map, seconds.
const DEFAULT_LINGER_SECS: i64 = 5;

fn motor<'a>(req: &'a Request) -> CgiResult<&'a Ptz> {
    req.ctx.ptz.as_ref().ok_or_else(|| {
        tracing::info!(cmd = req.spec.name, "this board has no pan/tilt motor");
        CgiError::Exec("no PTZ motor on this board".into())
    })
}

fn setting_int(ctx: &Context, section: &str, field: &str) -> CgiResult<i64> {
    ctx.settings
        .snapshot()
        .section(section)
        .and_then(|s| s.value(field))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| CgiError::Exec("bad stored setting".into()))
}

fn move_to(req: &Request, direction: Direction) -> CgiResult<Reply> {
    let speed = setting_int(req.ctx, "ptz_speed", "speed")? as u8;
    motor(req)?.command(PtzCommand::Move { direction, speed })?;
    Ok(Reply::ok())
}

/// Start tilting up.
pub(crate) fn ptz_move_up(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::Up)
}
/// Start tilting down.
pub(crate) fn ptz_move_down(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::Down)
}
/// Start panning left.
pub(crate) fn ptz_move_left(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::Left)
}
/// Start panning right.
pub(crate) fn ptz_move_right(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::Right)
}
/// Start moving up and left.
pub(crate) fn ptz_move_top_left(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::UpLeft)
}
/// Start moving up and right.
pub(crate) fn ptz_move_top_right(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::UpRight)
}
/// Start moving down and left.
pub(crate) fn ptz_move_bottom_left(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::DownLeft)
}
/// Start moving down and right.
pub(crate) fn ptz_move_bottom_right(req: &Request) -> CgiResult<Reply> {
    move_to(req, Direction::DownRight)
}

/// Stop moving (and any cruise).
pub(crate) fn ptz_stop_run(req: &Request) -> CgiResult<Reply> {
    motor(req)?.command(PtzCommand::Stop)?;
    Ok(Reply::ok())
}

/// Go home: the middle of both axes.
pub(crate) fn ptz_reset(req: &Request) -> CgiResult<Reply> {
    motor(req)?.start_job("reset".into(), ptz::home_steps(), CruiseLimit::Loops(1));
    Ok(Reply::ok())
}

/// Every preset name: the four limits, then the user presets by controller number.
fn preset_names(ctx: &Context) -> CgiResult<Vec<(String, Option<i64>)>> {
    let mut names: Vec<(String, Option<i64>)> = LIMIT_PRESETS
        .iter()
        .map(|(n, _)| ((*n).to_owned(), None))
        .collect();
    names.extend(
        ctx.store
            .presets()?
            .into_iter()
            .map(|(n, slot)| (n, Some(slot))),
    );
    Ok(names)
}

fn target_of(ctx: &Context, name: &str) -> CgiResult<Option<Target>> {
    Ok(ptz::target_named(name, &ctx.store.presets()?))
}

fn name_param<'a>(req: &'a Request, key: &str) -> CgiResult<&'a str> {
    let name = req
        .raw(key)
        .ok_or_else(|| CgiError::field(key, "missing"))?;
    if !ptz::valid_name(name) {
        return Err(CgiError::field(
            key,
            "1 to 20 letters, digits, spaces, - or _",
        ));
    }
    Ok(name)
}

/// Preset names.
pub(crate) fn get_ptz_preset_point_list(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let names = preset_names(req.ctx)?;
    let mut fields = Fields::new().with("cnt", names.len());
    for i in 0..MAX_PRESETS {
        fields.push(
            format!("point{i}"),
            names.get(i).map(|(n, _)| n.as_str()).unwrap_or(""),
        );
    }
    Ok(Reply::Xml(fields))
}

/// Store the current position as a named preset.
pub(crate) fn ptz_add_preset_point(req: &Request) -> CgiResult<Reply> {
    let ptz = motor(req)?;
    let name = name_param(req, "name")?;
    let names = preset_names(req.ctx)?;
    if names.iter().any(|(n, _)| n == name) {
        return Err(CgiError::Exec("preset name exists".into()));
    }
    if names.len() >= MAX_PRESETS {
        return Err(CgiError::Exec("preset limit reached".into()));
    }
    let slot = (ptz::FIRST_USER_SLOT..=ptz::LAST_USER_SLOT)
        .find(|s| !names.iter().any(|(_, used)| *used == Some(*s)))
        .ok_or_else(|| CgiError::Exec("no free controller preset".into()))?;
    ptz.command(PtzCommand::SetPreset(slot as u8))?;
    if !req.ctx.store.insert_preset(name, slot)? {
        return Err(CgiError::Exec("preset exists".into()));
    }
    Ok(Reply::ok())
}

/// Forget a user preset (the four limit presets stay).
pub(crate) fn ptz_delete_preset_point(req: &Request) -> CgiResult<Reply> {
    let ptz = motor(req)?;
    let name = name_param(req, "name")?;
    match target_of(req.ctx, name)? {
        Some(Target::Preset(slot)) => {
            ptz.command(PtzCommand::ClearPreset(slot))?;
            req.ctx.store.delete_preset(name)?;
            Ok(Reply::ok())
        }
        Some(_) => Err(CgiError::Exec("default presets cannot be deleted".into())),
        None => Err(CgiError::Exec("no such preset".into())),
    }
}

/// Move to a preset.
pub(crate) fn ptz_goto_preset_point(req: &Request) -> CgiResult<Reply> {
    let ptz = motor(req)?;
    let name = name_param(req, "name")?;
    match target_of(req.ctx, name)? {
        Some(Target::Preset(slot)) => ptz.command(PtzCommand::CallPreset(slot))?,
        Some(target) => ptz.start_job(
            format!("goto {name}"),
            vec![Step {
                target,
                linger: Duration::ZERO,
            }],
            CruiseLimit::Loops(1),
        ),
        None => return Err(CgiError::Exec("no such preset".into())),
    }
    Ok(Reply::ok())
}

/// Linger times of every point position of a map (the guide's time0..time7), whether or not
/// the map has a point there yet: one stored earlier (a map keeps its list when its points
/// change), else the default.
fn every_position(mut lingers: Vec<i64>) -> Vec<i64> {
    lingers.resize(MAX_CRUISE_POINTS, DEFAULT_LINGER_SECS);
    lingers
}

/// All cruise maps: the defaults (with any stored linger times) and the user's, each with a
/// linger time for every point position.
fn cruise_maps(ctx: &Context) -> CgiResult<Vec<CruiseRow>> {
    let stored = ctx.store.cruise_maps()?;
    let mut maps: Vec<CruiseRow> = DEFAULT_CRUISES
        .iter()
        .map(|(name, points)| {
            let lingers = stored
                .iter()
                .find(|m| m.name == *name)
                .map(|m| m.lingers.clone())
                .unwrap_or_default();
            CruiseRow {
                name: (*name).into(),
                points: points.iter().map(|p| (*p).into()).collect(),
                lingers: every_position(lingers),
            }
        })
        .collect();
    maps.extend(
        stored
            .into_iter()
            .filter(|m| !is_default_map(&m.name))
            .map(|m| CruiseRow {
                lingers: every_position(m.lingers),
                ..m
            }),
    );
    Ok(maps)
}

fn is_default_map(name: &str) -> bool {
    DEFAULT_CRUISES.iter().any(|(n, _)| *n == name)
}

/// Finds a map, accepting "Horizontal" for the guide's "Horizental".
fn find_map(ctx: &Context, name: &str) -> CgiResult<Option<CruiseRow>> {
    let name = if name == "Horizontal" {
        "Horizental"
    } else {
        name
    };
    Ok(cruise_maps(ctx)?.into_iter().find(|m| m.name == name))
}

/// Cruise map names.
pub(crate) fn ptz_get_cruise_map_list(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let maps = cruise_maps(req.ctx)?;
    let mut fields = Fields::new().with("cnt", maps.len());
    for i in 0..MAX_CRUISE_MAPS {
        fields.push(
            format!("map{i}"),
            maps.get(i).map(|m| m.name.as_str()).unwrap_or(""),
        );
    }
    Ok(Reply::Xml(fields))
}

/// The points of a cruise map; `getResult` -1 when there is no such map.
pub(crate) fn ptz_get_cruise_map_info(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = name_param(req, "name")?;
    let Some(map) = find_map(req.ctx, name)? else {
        return Ok(Reply::Xml(
            Fields::new().with("getResult", outcome_field(false)),
        ));
    };
    let mut fields = Fields::new().with("getResult", outcome_field(true));
    for i in 0..MAX_CRUISE_POINTS {
        fields.push(
            format!("point{i}"),
            map.points.get(i).map(String::as_str).unwrap_or(""),
        );
    }
    Ok(Reply::Xml(fields))
}

/// Create or replace a user cruise map.
pub(crate) fn ptz_set_cruise_map(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = name_param(req, "name")?;
    if is_default_map(name) || name == "Horizontal" {
        return Err(CgiError::Exec("default maps cannot be changed".into()));
    }
    let presets = preset_names(req.ctx)?;
    let mut points = Vec::new();
    for i in 0..MAX_CRUISE_POINTS {
        let key = format!("point{i}");
        let Some(point) = req.query.get(&key).filter(|p| !p.is_empty()) else {
            continue;
        };
        if !presets.iter().any(|(n, _)| n == point) {
            return Err(CgiError::field(&key, "no such preset"));
        }
        points.push(point.to_owned());
    }
    if points.is_empty() {
        return Err(CgiError::Format(
            "a cruise map needs at least one point".into(),
        ));
    }
    let maps = cruise_maps(req.ctx)?;
    let existing = maps.iter().find(|m| m.name == name);
    if existing.is_none() && maps.len() >= MAX_CRUISE_MAPS {
        return Err(CgiError::Exec("cruise map limit reached".into()));
    }
    let lingers = every_position(existing.map(|m| m.lingers.clone()).unwrap_or_default());
    req.ctx.store.put_cruise_map(&CruiseRow {
        name: name.into(),
        points,
        lingers,
    })?;
    Ok(Reply::ok())
}

/// Delete a user cruise map.
pub(crate) fn ptz_del_cruise_map(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = name_param(req, "name")?;
    if is_default_map(name) || name == "Horizontal" {
        return Err(CgiError::Exec("default maps cannot be deleted".into()));
    }
    if req.ctx.store.delete_cruise_map(name)? {
        Ok(Reply::ok())
    } else {
        Err(CgiError::Exec("no such cruise map".into()))
    }
}

/// The steps and limit of a cruise over `map`, from the cruise settings.
pub fn cruise_plan(ctx: &Context, map: &CruiseRow) -> CgiResult<(Vec<Step>, CruiseLimit)> {
    let mut steps = Vec::new();
    for (i, point) in map.points.iter().enumerate() {
        let Some(target) = target_of(ctx, point)? else {
            tracing::warn!(map = %map.name, %point, "cruise point has no preset; skipped");
            continue;
        };
        let linger = map
            .lingers
            .get(i)
            .copied()
            .unwrap_or(DEFAULT_LINGER_SECS)
            .max(0) as u64;
        steps.push(Step {
            target,
            linger: Duration::from_secs(linger),
        });
    }
    let limit = if setting_int(ctx, "cruise_mode", "mode")? == 1 {
        CruiseLimit::Loops(setting_int(ctx, "cruise_loop", "count")?.max(1) as u32)
    } else {
        let customed = setting_int(ctx, "cruise_time_customed", "customed")? == 1;
        let secs = if customed {
            setting_int(ctx, "cruise_time_customed", "time")?
        } else {
            setting_int(ctx, "cruise_time", "time")?
        };
        CruiseLimit::Time(Duration::from_secs(secs.max(1) as u64))
    };
    Ok((steps, limit))
}

/// Start cruising along a map.
pub(crate) fn ptz_start_cruise(req: &Request) -> CgiResult<Reply> {
    let ptz = motor(req)?;
    let name = name_param(req, "mapName")?;
    let map =
        find_map(req.ctx, name)?.ok_or_else(|| CgiError::Exec("no such cruise map".into()))?;
    let (steps, limit) = cruise_plan(req.ctx, &map)?;
    if steps.is_empty() {
        return Err(CgiError::Exec("cruise map has no reachable point".into()));
    }
    ptz.start_job(format!("cruise {}", map.name), steps, limit);
    Ok(Reply::ok())
}

/// Stop the running cruise.
pub(crate) fn ptz_stop_cruise(req: &Request) -> CgiResult<Reply> {
    motor(req)?.command(PtzCommand::Stop)?;
    Ok(Reply::ok())
}

/// Linger time at each point position of a map: time0..time7, as the guide's example sends
/// them, also for positions the map has no point at yet (they count once it has).
pub(crate) fn set_cruise_pre_point_linger_time(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = name_param(req, "name")?;
    let mut map =
        find_map(req.ctx, name)?.ok_or_else(|| CgiError::Exec("no such cruise map".into()))?;
    let mut changed = false;
    for i in 0..MAX_CRUISE_POINTS {
        let key = format!("time{i}");
        let Some(secs) = req.opt_int(&key)? else {
            continue;
        };
        if !(0..=MAX_LINGER_SECS).contains(&secs) {
            return Err(CgiError::field(&key, "out of range"));
        }
        map.lingers[i] = secs;
        changed = true;
    }
    if !changed {
        return Err(CgiError::Format("no linger time given".into()));
    }
    req.ctx.store.put_cruise_map(&map)?;
    Ok(Reply::ok())
}

/// Linger times of a map, one per point position (time0..time7).
pub(crate) fn get_cruise_pre_point_linger_time(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = name_param(req, "name")?;
    let map =
        find_map(req.ctx, name)?.ok_or_else(|| CgiError::Exec("no such cruise map".into()))?;
    let mut fields = Fields::new();
    for (i, secs) in map.lingers.iter().take(MAX_CRUISE_POINTS).enumerate() {
        fields.push(format!("time{i}"), secs);
    }
    Ok(Reply::Xml(fields))
}

fn zoom(req: &Request, command: fn(u8) -> PtzCommand) -> CgiResult<Reply> {
    let ptz = motor(req)?;
    if !req.ctx.hal.board.capabilities.zoom {
        tracing::info!(cmd = req.spec.name, "this board has no zoom lens");
        return Err(CgiError::Exec("no zoom lens".into()));
    }
    let speed = setting_int(req.ctx, "zoom_speed", "speed")? as u8;
    ptz.command(command(speed))?;
    Ok(Reply::ok())
}

/// Start zooming in.
pub(crate) fn zoom_in(req: &Request) -> CgiResult<Reply> {
    zoom(req, |speed| PtzCommand::ZoomIn { speed })
}
/// Start zooming out.
pub(crate) fn zoom_out(req: &Request) -> CgiResult<Reply> {
    zoom(req, |speed| PtzCommand::ZoomOut { speed })
}
/// Stop zooming.
pub(crate) fn zoom_stop(req: &Request) -> CgiResult<Reply> {
    zoom(req, |_| PtzCommand::ZoomStop)
}

/// The preset self-test mode 2 goes to. An empty name (what the getter answers while none is
/// appointed) appoints none: mode 2 then stays home after the self-test.
pub(crate) fn set_ptz_pre_point_for_self_test(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let appointed = req
        .raw("name")
        .ok_or_else(|| CgiError::field("name", "missing"))?;
    let name = if appointed.is_empty() {
        appointed
    } else {
        name_param(req, "name")?
    };
    if !name.is_empty() && target_of(req.ctx, name)?.is_none() {
        return Err(CgiError::Exec("no such preset".into()));
    }
    req.ctx.settings.write("ptz_selftest", &[("name", name)])?;
    Ok(Reply::ok())
}

/// The self-test preset (empty while none is appointed).
pub(crate) fn get_ptz_pre_point_for_self_test(req: &Request) -> CgiResult<Reply> {
    motor(req)?;
    let name = req.ctx.settings.snapshot().ptz_selftest.name.clone();
    Ok(Reply::Xml(Fields::new().with("name", name)))
}

#[cfg(test)]
mod tests {
    use crate::cgi::reply::Reply;
    use crate::daemon::testing::SimCamera;

    fn field(reply: &Reply, name: &str) -> String {
        match reply {
            Reply::Xml(fields) => fields.get(name).unwrap_or("<absent>").to_owned(),
            other => panic!("not XML: {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "no motor under qemu-user: its pty cannot be configured"
    )]
    async fn test_linger_times_of_all_eight_positions_as_the_guides_example_sends_them() {
        let cam = SimCamera::start().await;
        // A fresh map: every position has the default.
        let got = cam
            .cgi("getCruisePrePointLingerTime", &[("name", "Vertical")])
            .await;
        assert_eq!(got.code, 0);
        for n in 0..8 {
            assert_eq!(field(&got.reply, &format!("time{n}")), "5", "time{n}");
        }
        let times: Vec<(String, String)> = (0..8)
            .map(|n| (format!("time{n}"), n.to_string()))
            .collect();
        let mut params: Vec<(&str, &str)> = vec![("name", "Vertical")];
        params.extend(times.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(
            cam.cgi("setCruisePrePointLingerTime", &params).await.code,
            0
        );
        let got = cam
            .cgi("getCruisePrePointLingerTime", &[("name", "Vertical")])
            .await;
        for n in 0..8 {
            assert_eq!(field(&got.reply, &format!("time{n}")), n.to_string());
        }
        // A new point list keeps the map's linger times.
        let map = [
            ("name", "patrol"),
            ("point0", "TopMost"),
            ("point1", "LeftMost"),
        ];
        assert_eq!(cam.cgi("ptzSetCruiseMap", &map).await.code, 0);
        let lingers = [("name", "patrol"), ("time6", "60")];
        assert_eq!(
            cam.cgi("setCruisePrePointLingerTime", &lingers).await.code,
            0
        );
        let map = [("name", "patrol"), ("point0", "TopMost")];
        assert_eq!(cam.cgi("ptzSetCruiseMap", &map).await.code, 0);
        let got = cam
            .cgi("getCruisePrePointLingerTime", &[("name", "patrol")])
            .await;
        assert_eq!(field(&got.reply, "time6"), "60");
        // Out of range changes nothing.
        let bad = [("name", "Vertical"), ("time7", "3601")];
        assert_eq!(cam.cgi("setCruisePrePointLingerTime", &bad).await.code, -1);
        let got = cam
            .cgi("getCruisePrePointLingerTime", &[("name", "Vertical")])
            .await;
        assert_eq!(field(&got.reply, "time7"), "7");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "no motor under qemu-user: its pty cannot be configured"
    )]
    async fn test_self_test_preset_none_appointed_is_the_empty_name_both_ways() {
        let cam = SimCamera::start().await;
        let got = cam.cgi("getPTZPrePointForSelfTest", &[]).await;
        assert_eq!((got.code, field(&got.reply, "name")), (0, String::new()));
        assert_eq!(
            cam.cgi("setPTZPrePointForSelfTest", &[("name", "TopMost")])
                .await
                .code,
            0
        );
        let got = cam.cgi("getPTZPrePointForSelfTest", &[]).await;
        assert_eq!(field(&got.reply, "name"), "TopMost");
        assert_eq!(
            cam.cgi("setPTZPrePointForSelfTest", &[("name", "nowhere")])
                .await
                .code,
            -4
        );
        assert_eq!(
            cam.cgi("setPTZPrePointForSelfTest", &[("name", "bad/name")])
                .await
                .code,
            -1
        );
        assert_eq!(cam.cgi("setPTZPrePointForSelfTest", &[]).await.code, -1);
        let got = cam.cgi("getPTZPrePointForSelfTest", &[]).await;
        assert_eq!(field(&got.reply, "name"), "TopMost");
        assert_eq!(
            cam.cgi("setPTZPrePointForSelfTest", &[("name", "")])
                .await
                .code,
            0
        );
        let got = cam.cgi("getPTZPrePointForSelfTest", &[]).await;
        assert_eq!(field(&got.reply, "name"), "");
    }
}
