//! The panic boundary both services put around their work: a panic (libtorch refusing an
//! allocation, a bug) becomes an INTERNAL error that names an incident id; its text, which
//! can name server paths and run to kilobytes of C++ backtrace, goes to the log only.

use std::any::Any;

/// The text a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// Log a caught panic of `what` ("the evaluation") under a fresh id and return the message
/// a client gets: `what stopped on an internal error (incident … in the service's log)`.
pub fn incident(what: &str, payload: &(dyn Any + Send)) -> String {
    let id = format!("{:016x}", fresh_id());
    tracing::error!(incident = %id, panic = %panic_text(payload), "{what} panicked");
    format!("{what} stopped on an internal error (incident {id} in the service's log)")
}

/// An id unlikely to repeat: the clock through a randomly keyed hash.
fn fresh_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_an_incident_and_not_the_panic() {
        let p =
            std::panic::catch_unwind(|| panic!("out of memory at /srv/secret/lib.so")).unwrap_err();
        assert_eq!(panic_text(&*p), "out of memory at /srv/secret/lib.so");
        let msg = incident("the evaluation", &*p);
        assert!(
            msg.starts_with("the evaluation stopped on an internal error (incident "),
            "{msg}"
        );
        assert!(!msg.contains("/srv") && !msg.contains("memory"), "{msg}");
        assert_ne!(msg, incident("the evaluation", &*p), "ids repeat");
    }
}
