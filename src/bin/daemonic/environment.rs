//! The environment `start` gives the program: the command's own, or a safe `PATH`
//! alone, with the `--env` entries.

use core::ffi::CStr;

use crate::args::{self, Options};
use crate::sys;

/// `PATH` for `--clear-env`: the usual system directories.
const SAFE_PATH: &CStr = c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program's environment: ours (or only a safe `PATH` with `--clear-env`), then
/// every `--env`, each replacing a variable of the same name: the last one wins, as
/// with `env(1)`.
pub fn build<'e>(
    o: &Options<'e>,
    ours: sys::Environ,
    list: &mut sys::Strings<'e>,
) -> Result<(), ()> {
    let given = o.env.as_slice();
    let named = |entry: &CStr, among: &[&CStr]| {
        let name = name_of(entry.to_bytes());
        among.iter().any(|e| name_of(e.to_bytes()) == name)
    };
    let ours = ours
        .iter()
        .filter(|_| !o.clear_env)
        .map(|e| -> &'e CStr { e });
    let base = ours.chain(o.clear_env.then_some(SAFE_PATH));
    let last_given = given
        .iter()
        .enumerate()
        .filter(|&(i, e)| !named(e, &given[i + 1..]))
        .map(|(_, &e)| e);
    for entry in base.filter(|e| !named(e, given)).chain(last_given) {
        list.push(entry)?;
    }
    Ok(())
}

/// The `NAME` of a `NAME=VALUE` entry.
fn name_of(entry: &[u8]) -> &[u8] {
    args::split(entry, b'=').map_or(entry, |(name, _)| name)
}
