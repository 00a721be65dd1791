//! The protocol's enums and the names Triad's configs and logs use for them, defined once:
//! a device is `auto`, `cpu` or `cuda` in RUN.toml, study specs and flags, and `Device` on the
//! wire; a run state is `queued` … `cancelled` in logs and metrics.

use crate::v1::{Device, RunState};

impl Device {
    /// The name configs use: `auto` (unspecified), `cpu`, `cuda`.
    pub fn config_name(self) -> &'static str {
        match self {
            Device::Unspecified => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }

    /// From a config name (`auto`, `cpu`, `cuda`).
    pub fn from_config_name(name: &str) -> Option<Device> {
        [Device::Unspecified, Device::Cpu, Device::Cuda]
            .into_iter()
            .find(|d| d.config_name() == name)
    }

    /// From a request's `device` field, naming the field when the value is unknown.
    pub fn from_wire(value: i32) -> Result<Device, String> {
        Device::try_from(value).map_err(|_| format!("field `device`: unknown value {value}"))
    }
}

impl RunState {
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` (`unspecified`).
    pub fn short_name(self) -> String {
        self.as_str_name()
            .trim_start_matches("RUN_STATE_")
            .to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_values_name_the_field() {
        for d in [Device::Unspecified, Device::Cpu, Device::Cuda] {
            assert_eq!(Device::from_config_name(d.config_name()), Some(d));
            assert_eq!(Device::from_wire(d as i32), Ok(d));
        }
        assert_eq!(Device::from_config_name("tpu"), None);
        assert_eq!(
            Device::from_wire(9),
            Err("field `device`: unknown value 9".to_string())
        );
        assert_eq!(RunState::Succeeded.short_name(), "succeeded");
    }
}
