#!/usr/bin/env bash
# Runs `systemd-analyze verify` on the units exactly as committed. verify insists that every
# ExecStart= program exists, so the units are checked inside a throw-away root (--root) that
# has the distribution's own units plus empty executables at the paths the units name.
# Any warning counts as a failure (verify only warns about unknown keys). A template
# (ipcamd-pppoe@.service) is verified as an instance of it. Then the polkit rules and the
# sysusers file (below).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v systemd-analyze >/dev/null; then
    echo "systemd/verify.sh: NOTICE: systemd-analyze unavailable, units NOT verified" >&2
    exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/bin"
ln -s usr/bin "$root/bin"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
units=()
for unit in *.service; do
    cp "$unit" "$root/etc/systemd/system/"
    units+=("$root/etc/systemd/system/$unit")
    # Every absolute program path of Exec*= lines (after the optional -@:+! prefixes).
    sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' "$unit" | while read -r program; do
        mkdir -p "$root$(dirname "$program")"
        [ -e "$root$program" ] || { printf '#!/bin/sh\n' >"$root$program" && chmod +x "$root$program"; }
    done
done
output=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) || {
    echo "$output"
    exit 1
}
if [ -n "$output" ]; then
    echo "$output"
    echo "systemd/verify.sh: warnings count as failures" >&2
    exit 1
fi
echo "systemd/verify.sh: ${units[*]##*/} verified"

# The polkit rules (the *.rules that call polkit.addRule; 60-ipcamd.rules is udev's): parsed
# and run by node against a stand-in `polkit` object, checking that each grants what it is for
# and nothing beside it (other users, actions, units, verbs).
if ! command -v node >/dev/null; then
    echo "systemd/verify.sh: NOTICE: node unavailable, polkit rules NOT checked" >&2
else
    node - <<'JS'
const fs = require("fs");
const vm = require("vm");
const rules = [];
const polkit = { Result: { YES: "yes", NO: "no" }, addRule: (f) => rules.push(f) };
for (const file of fs.readdirSync(".").filter((f) => f.endsWith(".rules")).sort()) {
    const text = fs.readFileSync(file, "utf8");
    if (!text.includes("polkit.addRule")) continue;
    vm.runInNewContext(text, { polkit }, { filename: file }); // throws on a syntax error
}
const decide = (user, id, details = {}) => {
    const action = { id, lookup: (key) => details[key] };
    for (const rule of rules) {
        const result = rule(action, { user });
        if (result !== undefined) return result;
    }
    return "default";
};
const expect = (want, user, id, details) => {
    const got = decide(user, id, details);
    if (got !== want) {
        console.error(`polkit: ${user} ${id} ${JSON.stringify(details)}: ${got}, want ${want}`);
        process.exitCode = 1;
    }
};
const units = "org.freedesktop.systemd1.manage-units";
expect("yes", "ipcamd", "org.freedesktop.login1.reboot");
expect("yes", "ipcamd", "org.freedesktop.login1.reboot-multiple-sessions");
expect("default", "ipcamd", "org.freedesktop.login1.power-off");
expect("default", "nobody", "org.freedesktop.login1.reboot");
for (const verb of ["start", "restart", "stop"]) {
    expect("yes", "ipcamd", units, { unit: "ipcamd-pppoe@eth0.service", verb });
    expect("yes", "ipcamd", units, { unit: "ipcamd-pppoe@enp0s3.100.service", verb });
    expect("default", "nobody", units, { unit: "ipcamd-pppoe@eth0.service", verb });
    for (const unit of ["ipcamd.service", "ipcamd-pppoe@.service", "ipcamd-pppoe@eth0",
        "ipcamd-pppoe@eth0\\x20plugin.service", "ipcamd-pppoe@sixteen-chars-xx.service",
        "ipcamd-pppoe@eth0.service.d", "xipcamd-pppoe@eth0.service", "getty@tty1.service"]) {
        expect("default", "ipcamd", units, { unit, verb });
    }
}
for (const verb of ["reload", "try-restart", "reset-failed", "kill", "clean", "freeze",
    "set-property", undefined]) {
    expect("default", "ipcamd", units, { unit: "ipcamd-pppoe@eth0.service", verb });
}
expect("default", "ipcamd", units, { verb: "start" });
expect("default", "ipcamd", "org.freedesktop.systemd1.manage-unit-files",
    { unit: "ipcamd-pppoe@eth0.service", verb: "start" });
if (process.exitCode) process.exit(1);
console.log(`systemd/verify.sh: polkit rules checked (${rules.length})`);
JS
fi

# sysusers: the user and its groups, created in an empty root and in one where the groups
# exist already (Debian's netdev, video, dialout), never failing for a missing group.
if ! command -v systemd-sysusers >/dev/null; then
    echo "systemd/verify.sh: NOTICE: systemd-sysusers unavailable, sysusers NOT checked" >&2
else
    for seeded in no yes; do
        users=$(mktemp -d -p "$root")
        mkdir -p "$users/etc"
        if [ "$seeded" = yes ]; then
            printf 'netdev:x:108:\nvideo:x:44:\ndialout:x:20:\n' >"$users/etc/group"
            : >"$users/etc/passwd"
        fi
        systemd-sysusers --root="$users" - <ipcamd.sysusers.conf >/dev/null 2>&1 || {
            echo "systemd/verify.sh: systemd-sysusers failed (groups seeded: $seeded)" >&2
            exit 1
        }
        for group in video dialout netdev; do
            grep -Eq "^$group:x:[0-9]+:(.*,)?ipcamd(,|$)" "$users/etc/group" || {
                echo "systemd/verify.sh: ipcamd not in group $group (seeded: $seeded)" >&2
                exit 1
            }
        done
        grep -q '^ipcamd:' "$users/etc/passwd" || {
            echo "systemd/verify.sh: no ipcamd user (seeded: $seeded)" >&2
            exit 1
        }
    done
    echo "systemd/verify.sh: ipcamd.sysusers.conf checked"
fi
