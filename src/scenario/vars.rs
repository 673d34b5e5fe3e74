//! `${name}` substitution. Values come from the scenario's `[variables]` (a list is picked per
//! call: element `call % len`), the agents' addresses once bound (`${NAME.address}`,
//! `${NAME.uri}`), `${registrar}` and `${call}` (the run's number, from 0).

use std::collections::BTreeMap;

use super::format::Variable;

#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    /// The scenario's variables as seen by call number `call`.
    pub fn for_call(defined: &BTreeMap<String, Variable>, call: u64) -> Vars {
        let mut values = BTreeMap::new();
        for (name, v) in defined {
            let value = match v {
                Variable::Fixed(s) => s.clone(),
                Variable::PerCall(list) => list
                    .get((call % list.len().max(1) as u64) as usize)
                    .cloned()
                    .unwrap_or_default(),
            };
            values.insert(name.clone(), value);
        }
        values.insert("call".into(), call.to_string());
        Vars { values }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// Replaces every `${name}`; an unknown name is an error naming it.
    pub fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let name = &after[..end];
            // Values may themselves use variables (a list of URIs naming agents): one level.
            let value = self
                .values
                .get(name)
                .ok_or_else(|| format!("unknown variable `${{{name}}}` in `{text}`"))?;
            if value.contains("${") {
                out.push_str(&self.substitute_once(value)?);
            } else {
                out.push_str(value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn substitute_once(&self, text: &str) -> Result<String, String> {
        let inner = Vars {
            values: self
                .values
                .iter()
                .filter(|(_, v)| !v.contains("${"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        inner.substitute(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_call_lists_rotate_and_fixed_values_stay() {
        let mut defined = BTreeMap::new();
        defined.insert(
            "user".to_string(),
            Variable::PerCall(vec!["a".into(), "b".into()]),
        );
        defined.insert("d".to_string(), Variable::Fixed("x".into()));
        let v0 = Vars::for_call(&defined, 0);
        let v3 = Vars::for_call(&defined, 3);
        assert_eq!(v0.substitute("${user}-${d}-${call}").unwrap(), "a-x-0");
        assert_eq!(v3.substitute("${user}-${d}-${call}").unwrap(), "b-x-3");
    }

    #[test]
    fn nested_and_unknown_names() {
        let mut v = Vars::default();
        v.set("bob.uri", "sip:bob@127.0.0.1:5000");
        v.set("target", "${bob.uri}");
        assert_eq!(v.substitute("${target}").unwrap(), "sip:bob@127.0.0.1:5000");
        let err = v.substitute("to ${nobody}").unwrap_err();
        assert!(err.contains("${nobody}"), "{err}");
        assert!(v.substitute("${open").is_err());
        assert_eq!(v.substitute("no vars").unwrap(), "no vars");
    }
}
