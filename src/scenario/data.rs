//! Per-call data from a CSV file (`[data] csv = "users.csv"`, like sipp's `-inf`): the header
//! row names the columns, each run (or each agent of a run) takes one row, and
//! `${csv.COLUMN}` / `${AGENT.csv.COLUMN}` name its fields.

use std::path::{Path, PathBuf};

/// How a run picks its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Row `call % rows`: every agent of the run sees the same row.
    Sequential,
    /// A row drawn per run from `seed` and the run's number (reproducible).
    Random,
    /// Each agent of a run its own row: `(call * agents + agent_index) % rows`.
    PerAgent,
}

impl Order {
    pub fn parse(s: &str) -> Option<Order> {
        match s {
            "sequential" => Some(Order::Sequential),
            "random" => Some(Order::Random),
            "per_agent" => Some(Order::PerAgent),
            _ => None,
        }
    }
}

/// A loaded CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub path: PathBuf,
    pub order: Order,
    pub seed: u64,
    pub columns: Vec<String>,
    /// Every data row has exactly `columns.len()` fields.
    pub rows: Vec<Vec<String>>,
}

/// A CSV problem at a line of the CSV file (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

impl Data {
    /// Reads and checks `path`.
    pub fn load(path: &Path, order: Order, seed: u64) -> Result<Data, CsvError> {
        let text = std::fs::read_to_string(path).map_err(|e| CsvError {
            line: 0,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let (columns, rows) = parse_csv(&text)?;
        Ok(Data {
            path: path.to_path_buf(),
            order,
            seed,
            columns,
            rows,
        })
    }

    /// The row index of agent number `agent` (of `agents`) in run `call`.
    pub fn row_index(&self, call: u64, agent: usize, agents: usize) -> usize {
        let n = self.rows.len().max(1) as u64;
        let i = match self.order {
            Order::Sequential => call % n,
            Order::Random => splitmix64(self.seed ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % n,
            Order::PerAgent => (call.wrapping_mul(agents as u64).wrapping_add(agent as u64)) % n,
        };
        i as usize
    }

    /// `(column, value)` of the row agent number `agent` (of `agents`) uses in run `call`.
    pub fn fields(&self, call: u64, agent: usize, agents: usize) -> Vec<(&str, &str)> {
        let row = &self.rows[self.row_index(call, agent, agents)];
        self.columns
            .iter()
            .map(String::as_str)
            .zip(row.iter().map(String::as_str))
            .collect()
    }
}

/// SplitMix64: a small, well-mixing hash for the random order.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Header and rows of CSV text: comma-separated, fields may be double-quoted (`""` is a
/// quote inside), one record per line, blank lines skipped. Errors name the line.
pub fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), CsvError> {
    let mut records = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_line(line).map_err(|message| CsvError {
            line: i + 1,
            message,
        })?;
        records.push((i + 1, fields));
    }
    let mut records = records.into_iter();
    let Some((header_line, columns)) = records.next() else {
        return Err(CsvError {
            line: 1,
            message: "empty file: a header row naming the columns is needed".into(),
        });
    };
    for (n, c) in columns.iter().enumerate() {
        if c.is_empty()
            || !c
                .chars()
                .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(CsvError {
                line: header_line,
                message: format!(
                    "column {} is named `{c}`: names are letters, digits, `_` or `-`",
                    n + 1
                ),
            });
        }
        if columns[..n].contains(c) {
            return Err(CsvError {
                line: header_line,
                message: format!("column `{c}` is named twice"),
            });
        }
    }
    let mut rows = Vec::new();
    for (line, fields) in records {
        if fields.len() != columns.len() {
            return Err(CsvError {
                line,
                message: format!(
                    "{} field(s), the header has {} ({})",
                    fields.len(),
                    columns.len(),
                    columns.join(",")
                ),
            });
        }
        rows.push(fields);
    }
    if rows.is_empty() {
        return Err(CsvError {
            line: header_line,
            message: "no data rows after the header".into(),
        });
    }
    Ok((columns, rows))
}

fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unclosed quote".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("`{c}` after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_string());
        }
    }
}

/// Every `${...}` name in TOML `text` that reads CSV data (`csv.COLUMN` or
/// `AGENT.csv.COLUMN`), with its byte offset: `(offset, column)`. Comments are skipped.
pub fn csv_references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let code = &line[..comment_start(line)];
        let mut from = 0;
        while let Some(start) = code[from..].find("${") {
            let at = from + start;
            let after = &code[at + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            let column = name
                .strip_prefix("csv.")
                .or_else(|| name.split_once(".csv.").map(|(_, c)| c));
            if let Some(c) = column {
                out.push((line_start + at, c.to_string()));
            }
            from = at + 2;
        }
        line_start += line.len();
    }
    out
}

/// Where a TOML comment starts on `line` (its length when there is none): the first `#`
/// outside a quoted string.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return i,
            None => {}
        }
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(order: Order, rows: usize) -> Data {
        Data {
            path: "x.csv".into(),
            order,
            seed: 7,
            columns: vec!["user".into()],
            rows: (0..rows).map(|i| vec![format!("u{i}")]).collect(),
        }
    }

    #[test]
    fn header_rows_quotes_and_blank_lines() {
        let (cols, rows) =
            parse_csv("user,password\n\nalice, alicepw\r\n\"b,ob\",\"say \"\"hi\"\"\"\n").unwrap();
        assert_eq!(cols, ["user", "password"]);
        assert_eq!(rows[0], ["alice", "alicepw"]);
        assert_eq!(rows[1], ["b,ob", "say \"hi\""]);
    }

    #[test]
    fn bad_csv_names_the_line() {
        let e = parse_csv("user,password\nalice,a\nbob\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("1 field(s), the header has 2"), "{e:?}");
        let e = parse_csv("").unwrap_err();
        assert!(e.message.contains("empty file"), "{e:?}");
        let e = parse_csv("\n\nuser\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("no data rows"), "{e:?}");
        let e = parse_csv("user,user\na,b\n").unwrap_err();
        assert!(e.message.contains("named twice"), "{e:?}");
        let e = parse_csv("user\n\"open\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "unclosed quote"));
        assert!(parse_csv("us er\nx\n").is_err());
    }

    #[test]
    fn orders_pick_rows() {
        let seq = data(Order::Sequential, 3);
        let picked: Vec<usize> = (0..5).map(|c| seq.row_index(c, 1, 2)).collect();
        assert_eq!(picked, [0, 1, 2, 0, 1]);
        let per = data(Order::PerAgent, 5);
        // Two agents: run 0 takes rows 0 and 1, run 1 rows 2 and 3, run 2 rows 4 and 0.
        let pairs: Vec<(usize, usize)> = (0..3)
            .map(|c| (per.row_index(c, 0, 2), per.row_index(c, 1, 2)))
            .collect();
        assert_eq!(pairs, [(0, 1), (2, 3), (4, 0)]);
        let rnd = data(Order::Random, 10);
        let a: Vec<usize> = (0..50).map(|c| rnd.row_index(c, 0, 2)).collect();
        let b: Vec<usize> = (0..50).map(|c| rnd.row_index(c, 1, 2)).collect();
        // Reproducible, the same for every agent of a run, and not simply sequential.
        assert_eq!(a, b);
        assert_eq!(
            a,
            (0..50).map(|c| rnd.row_index(c, 0, 2)).collect::<Vec<_>>()
        );
        assert_ne!(a, (0..50).map(|c| c % 10).collect::<Vec<_>>());
        let distinct: std::collections::BTreeSet<usize> = a.iter().copied().collect();
        assert!(distinct.len() >= 5, "{a:?}");
        assert_eq!(seq.fields(4, 0, 1), [("user", "u1")]);
    }

    #[test]
    fn references_are_found_with_their_offsets() {
        let refs = csv_references("a ${csv.user} ${bob.csv.password} ${call} ${x.address}");
        assert_eq!(
            refs,
            [(2, "user".to_string()), (14, "password".to_string())]
        );
        // Comments do not count; `#` inside a string is no comment.
        let text = "# ${csv.NAME}\nx = \"1#${csv.a}\" # ${csv.b}\ny = '${csv.c}'\n";
        let cols: Vec<String> = csv_references(text).into_iter().map(|(_, c)| c).collect();
        assert_eq!(cols, ["a", "c"]);
        assert_eq!(csv_references(text)[0].0, text.find("${csv.a}").unwrap());
    }
}
