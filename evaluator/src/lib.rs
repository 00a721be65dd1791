//! `triad-evaluator`: memorisation and utility metrics and the `triad.v1.Evaluator` service.
//! Built on `triad-lm`'s scoring; see DESIGN.md. The metrics land with issue 5.
