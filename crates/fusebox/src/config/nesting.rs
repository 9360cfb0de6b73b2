//! A quick look at how deeply a YAML text nests, before the parser sees it.
//!
//! The YAML parser's time grows with the square of the nesting depth
//! (200,000 nested `[` took 95 s), and it reads the whole text, a tool's own
//! sections included, before fusebox can look at a single key. So absurd
//! nesting is refused first, in one pass over the text, as the TOML parser
//! refuses it by itself.
//!
//! The count is an estimate from the text's layout, not a parse: block
//! levels from indentation and `- `/`? ` indicators, flow levels from
//! `[`/`{` outside quotes, comments and block scalars. It never counts less
//! than the parser would nest, and ordinary files stay far below the limit.

/// The deepest nesting a configuration file may have: the YAML reader's own
/// limit for the values it turns into settings.
pub(crate) const MAX_NESTING: usize = 128;

/// Nesting beyond [`MAX_NESTING`], first reached on `line` (1-based).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub(crate) line: usize,
}

/// Where a line of text stands when the previous line ended.
#[derive(Default)]
struct Scan {
    /// Columns of the open block nodes, innermost last.
    indents: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    /// In a block scalar (`|`, `>`) of a node indented this much: more
    /// indented or blank lines are its text.
    block_scalar: Option<usize>,
    /// In a quoted scalar that continues on the next line.
    quote: Option<u8>,
}

/// Refuses a YAML text nested deeper than [`MAX_NESTING`].
pub(crate) fn check_yaml(text: &str) -> Result<(), TooDeep> {
    let mut scan = Scan::default();
    for (index, line) in text.lines().enumerate() {
        let depth = scan.line(line.as_bytes());
        if depth > MAX_NESTING {
            return Err(TooDeep { line: index + 1 });
        }
    }
    Ok(())
}

impl Scan {
    /// Reads one line; returns the deepest nesting seen on it.
    fn line(&mut self, line: &[u8]) -> usize {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let content = &line[indent..];
        let blank = content.is_empty() || content.iter().all(u8::is_ascii_whitespace);
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return 0;
            }
            self.block_scalar = None;
        }
        let mut at = indent;
        if let Some(quote) = self.quote {
            match close_quote(line, 0, quote) {
                Some(end) => {
                    self.quote = None;
                    at = end;
                }
                None => return 0,
            }
        } else if self.flow == 0 {
            if blank || content.starts_with(b"#") {
                return 0;
            }
            while self.indents.last().is_some_and(|&open| open >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
            // `- - - x` nests a sequence per dash on one line.
            while let Some(next) = indicator_end(line, at) {
                self.indents.push(next);
                at = next;
            }
        }
        self.rest(line, at, indent)
    }

    /// Scans a line from `at` for flow brackets, quotes, comments and block
    /// scalar headers.
    fn rest(&mut self, line: &[u8], mut at: usize, indent: usize) -> usize {
        let mut deepest = self.indents.len() + self.flow;
        // Whether a node may start here: only then do `[`, `{`, quotes and
        // `|`/`>` mean something in a block context (`a[1]` is plain text).
        let mut node_start = true;
        while at < line.len() {
            let byte = line[at];
            let in_flow = self.flow > 0;
            match byte {
                b'#' if at == 0 || line[at - 1] == b' ' || line[at - 1] == b'\t' => break,
                b'\'' | b'"' if node_start || in_flow && !plain_before(line, at) => {
                    match close_quote(line, at + 1, byte) {
                        Some(end) => at = end,
                        None => {
                            self.quote = Some(byte);
                            break;
                        }
                    }
                    node_start = false;
                    continue;
                }
                b'[' | b'{' if node_start || in_flow => {
                    self.flow += 1;
                    deepest = deepest.max(self.indents.len() + self.flow);
                    node_start = true;
                }
                b']' | b'}' if in_flow => {
                    self.flow -= 1;
                    node_start = false;
                }
                b',' if in_flow => node_start = true,
                b'|' | b'>' if node_start && !in_flow => {
                    self.block_scalar = Some(indent);
                    break;
                }
                b':' | b'-' | b'?' if line.get(at + 1).is_none_or(|&b| b == b' ' || b == b'\t') => {
                    node_start = true
                }
                b'!' | b'&' if node_start => {
                    // A tag or an anchor comes before the node it names.
                    while at < line.len() && line[at] != b' ' {
                        at += 1;
                    }
                    continue;
                }
                b' ' | b'\t' => {}
                _ => node_start = false,
            }
            at += 1;
        }
        deepest
    }
}

/// After an indicator `- `, `? ` or `: ` starting at `at`, where its node
/// begins; `None` if there is no such indicator at `at`.
fn indicator_end(line: &[u8], at: usize) -> Option<usize> {
    let indicator = matches!(line.get(at), Some(b'-' | b'?' | b':'));
    let spaced = line.get(at + 1).is_some_and(|&b| b == b' ' || b == b'\t');
    if !(indicator && spaced) {
        return None;
    }
    let mut next = at + 1;
    while line.get(next).is_some_and(|&b| b == b' ' || b == b'\t') {
        next += 1;
    }
    (next < line.len()).then_some(next)
}

/// Whether the byte before `at` belongs to a plain word (so a quote at `at`
/// is a character of it, as in `it's`).
fn plain_before(line: &[u8], at: usize) -> bool {
    at > 0 && !matches!(line[at - 1], b' ' | b'\t' | b'[' | b'{' | b',' | b':')
}

/// The index after the quote closing a scalar opened by `quote`, scanning
/// from `from`; `None` if it does not close on this line.
fn close_quote(line: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut at = from;
    while at < line.len() {
        match line[at] {
            b'\\' if quote == b'"' => at += 2,
            b'\'' if quote == b'\'' && line.get(at + 1) == Some(&b'\'') => at += 2,
            b if b == quote => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        let mut scan = Scan::default();
        text.lines()
            .map(|line| scan.line(line.as_bytes()))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn counts_block_and_flow_levels() {
        assert_eq!(depth("a: 1\n"), 1);
        assert_eq!(depth("a:\n  b:\n    c: 1\n"), 3);
        assert_eq!(depth("- - - x\n"), 4);
        assert_eq!(depth("a: [1, [2, {b: 3}]]\n"), 4);
        assert_eq!(depth("a: [\n  [1,\n   2],\n  3]\n"), 3);
    }

    #[test]
    fn brackets_in_text_are_not_nesting() {
        let text = "\
a: foo[1] # [[[[
b: 'it''s [[[['
c: \"[[[[\\\"[[\"
d: it's [ plain
e: |
  [[[[[[[[
  {{{{{{{{
f: \"multi
  [[[[ line\"
g: 1
";
        assert_eq!(depth(text), 1, "{text}");
    }

    #[test]
    fn refuses_past_the_limit_naming_the_line() {
        let ok = format!(
            "a: {}{}\n",
            "[".repeat(MAX_NESTING - 1),
            "]".repeat(MAX_NESTING - 1)
        );
        assert_eq!(check_yaml(&ok), Ok(()));
        let deep = format!("a: 1\nb: {}\n", "[".repeat(MAX_NESTING));
        assert_eq!(check_yaml(&deep), Err(TooDeep { line: 2 }));
        let dashes = format!("a: 1\nb:\n{}x\n", "- ".repeat(MAX_NESTING));
        assert_eq!(check_yaml(&dashes), Err(TooDeep { line: 3 }));
    }
}
