//! SDP writer: RFC 8866 §5 line order, CRLF after every line including the last.

use std::fmt::{self, Write};

use crate::model::{Attribute, Connection, MediaDescription, OtherLine, SessionDescription};

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        let o = &self.origin;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.nettype,
            o.addrtype.as_str(),
            o.address
        )?;
        // RFC 8866 §5.3: a session name must not be empty; "-" when there is none.
        let name = if self.session_name.trim().is_empty() {
            "-"
        } else {
            &self.session_name
        };
        write!(f, "s={name}\r\n")?;
        // RFC 8866 §5: i u e p c b t r z k a, then the media sections.
        write_others(f, &self.other_lines, &['i', 'u', 'e', 'p'])?;
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        write_others(f, &self.other_lines, &['b'])?;
        // `t=` and its `r=` lines stay interleaved as they came.
        write_others(f, &self.other_lines, &['t', 'r'])?;
        if !self.other_lines.iter().any(|l| l.letter == 't') {
            f.write_str("t=0 0\r\n")?;
        }
        write_others(f, &self.other_lines, &['z'])?;
        write_others(f, &self.other_lines, &['k'])?;
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            write_media(f, m)?;
        }
        Ok(())
    }
}

fn write_media(f: &mut fmt::Formatter<'_>, m: &MediaDescription) -> fmt::Result {
    let mut port = m.port.to_string();
    if let Some(n) = m.port_count {
        write!(port, "/{n}")?;
    }
    write!(f, "m={} {} {}", m.media, port, m.proto)?;
    for fmt_ in &m.formats {
        write!(f, " {fmt_}")?;
    }
    f.write_str("\r\n")?;
    // RFC 8866 §5: m i c b k a.
    write_others(f, &m.other_lines, &['i'])?;
    if let Some(c) = &m.connection {
        write_connection(f, c)?;
    }
    write_others(f, &m.other_lines, &['b'])?;
    write_others(f, &m.other_lines, &['k'])?;
    write_attributes(f, &m.attributes)
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c={} {} {}", c.nettype, c.addrtype.as_str(), c.address)?;
    if let Some(s) = &c.suffix {
        write!(f, "/{s}")?;
    }
    f.write_str("\r\n")
}

fn write_others(f: &mut fmt::Formatter<'_>, lines: &[OtherLine], letters: &[char]) -> fmt::Result {
    for l in lines.iter().filter(|l| letters.contains(&l.letter)) {
        write!(f, "{}={}\r\n", l.letter, l.value)?;
    }
    Ok(())
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        match &a.value {
            Some(v) => write!(f, "a={}:{}\r\n", a.name, v)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn repeat_lines_stay_with_their_time_line() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=1 2\r\nr=7d 1h 0 25h\r\nt=3 4\r\nr=1d 1h 0\r\na=x\r\n";
        assert_eq!(parse(text).unwrap().to_string(), text);
    }

    #[test]
    fn multicast_suffix_and_name_addresses_are_written_back() {
        let text = "v=0\r\no=- 1 1 IN IP4 host.example.com\r\ns=x\r\nc=IN IP4 233.252.0.1/127/2\r\nt=0 0\r\n";
        assert_eq!(parse(text).unwrap().to_string(), text);
    }
}
