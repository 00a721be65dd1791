//! The privacy budget of one run: both accountants over the same steps, the configured one
//! reported (and used for the σ search), the other kept beside it in `run.json`.

use super::{Accountant, PldAccountant, RdpAccountant, DEFAULT_ORDERS};

#[derive(Debug, Clone)]
pub struct Budget {
    kind: Accountant,
    delta: f64,
    rdp: RdpAccountant,
    pld: PldAccountant,
    /// The last ε shown in progress, and when it was computed.
    shown: Option<(std::time::Instant, f64)>,
}

impl Budget {
    pub fn new(kind: Accountant, delta: f64) -> Self {
        Budget {
            kind,
            delta,
            rdp: RdpAccountant::default(),
            pld: PldAccountant::default(),
            shown: None,
        }
    }

    pub fn step(&mut self, noise_multiplier: f64, sampling_rate: f64) {
        self.rdp.step(noise_multiplier, sampling_rate);
        self.pld.step(noise_multiplier, sampling_rate);
    }

    /// The configured accountant.
    pub fn kind(&self) -> Accountant {
        self.kind
    }

    /// ε spent so far by the configured accountant.
    pub fn epsilon(&self) -> f64 {
        match self.kind {
            Accountant::Rdp => self.rdp_epsilon(),
            Accountant::Pld => self.pld.epsilon(self.delta),
        }
    }

    /// ε for per-step progress: exact under RDP (microseconds); under PLD recomputed at most
    /// every two seconds, since each evaluation composes every step so far (up to a second at
    /// thousands of steps). Checkpoints and run.json use [`Budget::epsilon`], always exact.
    pub fn epsilon_for_progress(&mut self) -> f64 {
        if self.kind == Accountant::Rdp {
            return self.rdp_epsilon();
        }
        let due = self
            .shown
            .is_none_or(|(at, _)| at.elapsed() >= std::time::Duration::from_secs(2));
        if due {
            self.shown = Some((std::time::Instant::now(), self.epsilon()));
        }
        self.shown.expect("set").1
    }

    /// ε under each accountant: (RDP, PLD).
    pub fn both(&self) -> (f64, f64) {
        (self.rdp_epsilon(), self.pld.epsilon(self.delta))
    }

    /// RDP's ε; warns (once per value of the order) when the best order sits at the edge of
    /// the accountant's range, where a wider range could give a smaller ε.
    fn rdp_epsilon(&self) -> f64 {
        let (eps, order) = self.rdp.epsilon_and_order(self.delta);
        let orders = &DEFAULT_ORDERS;
        if order == orders[0] || order == orders[orders.len() - 1] {
            static WARNED: std::sync::Mutex<Option<u64>> = std::sync::Mutex::new(None);
            let mut w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            if *w != Some(order.to_bits()) {
                *w = Some(order.to_bits());
                tracing::warn!(
                    order,
                    epsilon = eps,
                    "the RDP accountant's best order is at the edge of its range ({}–{}): ε may be loose",
                    orders[0],
                    orders[orders.len() - 1]
                );
            }
        }
        eps
    }
}
