//! Token-level sensitivity: a token is sensitive when its character range overlaps a span.

use super::record::Span;

/// For each token's `[start, end)` character range, the index of the first span it overlaps
/// (`None` when it overlaps none). Empty ranges — special tokens such as BOS — are never
/// sensitive. Tokens straddling a span edge (a leading space glued to a digit, say) count as
/// sensitive: part of what they encode is the secret. Spans must be sorted (as `check` requires).
pub fn sensitive_spans(offsets: &[(usize, usize)], spans: &[Span]) -> Vec<Option<usize>> {
    offsets
        .iter()
        .map(|&(s, e)| {
            if s >= e {
                return None;
            }
            // First span ending after the token starts; it is the only candidate to overlap first.
            let k = spans.partition_point(|sp| sp.end <= s);
            spans.get(k).filter(|sp| sp.start < e).map(|_| k)
        })
        .collect()
}

/// `true` per sensitive token.
pub fn sensitivity_mask(offsets: &[(usize, usize)], spans: &[Span]) -> Vec<bool> {
    sensitive_spans(offsets, spans)
        .into_iter()
        .map(|x| x.is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            label: "X".into(),
        }
    }

    #[test]
    fn overlap_rules() {
        let spans = [span(4, 8), span(10, 12)];
        let offsets = [
            (0, 0),
            (0, 4),
            (3, 5),
            (5, 8),
            (8, 10),
            (9, 11),
            (11, 12),
            (12, 15),
        ];
        assert_eq!(
            sensitivity_mask(&offsets, &spans),
            [false, false, true, true, false, true, true, false]
        );
        assert_eq!(sensitive_spans(&offsets, &spans)[5], Some(1));
    }
}
