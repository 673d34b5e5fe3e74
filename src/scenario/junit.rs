//! JUnit XML (the de-facto schema CI systems read): one `<testsuite>` per scenario file, one
//! `<testcase>` per agent and run (or one per load run), a `<failure>` naming step and line.

use super::report::RunReport;

/// A load run summarised as one test case.
pub struct LoadCase {
    pub file: String,
    pub scenario: String,
    pub seconds: f64,
    pub failed: u64,
    pub summary: String,
}

pub enum Suite {
    Runs {
        file: String,
        scenario: String,
        runs: Vec<RunReport>,
    },
    Load(LoadCase),
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 §2.2: control characters other than tab/newline/CR are not allowed.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub fn render(suites: &[Suite]) -> String {
    let mut body = String::new();
    let (mut total, mut failures) = (0usize, 0usize);
    for suite in suites {
        match suite {
            Suite::Runs {
                file,
                scenario,
                runs,
            } => {
                let mut cases = String::new();
                let (mut n, mut f) = (0usize, 0usize);
                let mut secs = 0.0;
                for run in runs {
                    secs += run.elapsed_ms as f64 / 1000.0;
                    if let Some(e) = &run.error {
                        n += 1;
                        f += 1;
                        cases += &format!(
                            "    <testcase classname=\"{}\" name=\"{} #{} set-up\" time=\"{:.3}\">\n      <failure message=\"{}\" type=\"scenario\"/>\n    </testcase>\n",
                            escape(file), escape(scenario), run.call, run.elapsed_ms as f64 / 1000.0, escape(e)
                        );
                    }
                    for agent in &run.agents {
                        n += 1;
                        let time: u64 = agent.steps.iter().map(|s| s.duration_ms).sum();
                        let out: String = agent
                            .steps
                            .iter()
                            .map(|s| {
                                format!(
                                    "#{} line {} {} {} ({} ms)\n",
                                    s.index,
                                    s.line,
                                    s.what,
                                    s.error
                                        .as_deref()
                                        .map_or("ok".to_string(), |e| format!("FAILED: {e}")),
                                    s.duration_ms
                                )
                            })
                            .collect();
                        cases += &format!(
                            "    <testcase classname=\"{}\" name=\"{} #{}: agent {}\" time=\"{:.3}\">\n",
                            escape(file),
                            escape(scenario),
                            run.call,
                            escape(&agent.name),
                            time as f64 / 1000.0
                        );
                        if let Some(fail) = &agent.failure {
                            f += 1;
                            cases += &format!(
                                "      <failure message=\"{}\" type=\"expectation\">{}</failure>\n",
                                escape(&fail.to_string()),
                                escape(&format!("{}:{}", fail.file, fail.line))
                            );
                        }
                        cases += &format!("      <system-out>{}</system-out>\n", escape(&out));
                        cases += "    </testcase>\n";
                    }
                }
                total += n;
                failures += f;
                body += &format!(
                    "  <testsuite name=\"{}\" file=\"{}\" tests=\"{n}\" failures=\"{f}\" errors=\"0\" time=\"{secs:.3}\">\n{cases}  </testsuite>\n",
                    escape(scenario),
                    escape(file)
                );
            }
            Suite::Load(l) => {
                total += 1;
                let failure = if l.failed > 0 {
                    failures += 1;
                    format!(
                        "      <failure message=\"{} call(s) failed\" type=\"load\"/>\n",
                        l.failed
                    )
                } else {
                    String::new()
                };
                body += &format!(
                    "  <testsuite name=\"{} (load)\" file=\"{}\" tests=\"1\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">\n    <testcase classname=\"{}\" name=\"load run\" time=\"{:.3}\">\n{failure}      <system-out>{}</system-out>\n    </testcase>\n  </testsuite>\n",
                    escape(&l.scenario),
                    escape(&l.file),
                    u8::from(l.failed > 0),
                    l.seconds,
                    escape(&l.file),
                    l.seconds,
                    escape(&l.summary)
                );
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"icephone run\" tests=\"{total}\" failures=\"{failures}\">\n{body}</testsuites>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_controls() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos; ");
    }

    #[test]
    fn a_load_case_counts_as_one_failing_test() {
        let xml = render(&[Suite::Load(LoadCase {
            file: "x.toml".into(),
            scenario: "x".into(),
            seconds: 1.5,
            failed: 2,
            summary: "a < b".into(),
        })]);
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(xml.contains("a &lt; b"), "{xml}");
    }
}
