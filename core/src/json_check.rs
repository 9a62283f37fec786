//! The JSON check of every JSON record: one object, well-formed (RFC 8259), so a bad record
//! fails its own call rather than the whole stream on the server.
//!
//! Hand-written because it runs on every record on the hot path: serde's skip of a value was
//! the largest single cost of a single-record call. Strings, usually most of a record, are
//! scanned a vector at a time. `&str` is already valid UTF-8, so only the grammar is checked.

/// Nesting limit, as serde_json's.
const MAX_DEPTH: usize = 128;

/// Checks that `text` is exactly one JSON object; the error says what is wrong and where.
pub(crate) fn check_object(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err("JSON record is not a JSON object".into());
    }
    // Open containers, innermost last: true for an object.
    let mut stack = [false; MAX_DEPTH];
    let mut depth = 0usize;
    'value: loop {
        // At the start of a value (whitespace skipped).
        match b.get(i) {
            Some(&open @ (b'{' | b'[')) => {
                if depth == MAX_DEPTH {
                    return Err(malformed("nesting deeper than 128", i));
                }
                stack[depth] = open == b'{';
                depth += 1;
                i = skip_ws(b, i + 1);
                let close = if open == b'{' { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                } else if open == b'{' {
                    i = member_key(b, i)?;
                    continue 'value;
                } else {
                    continue 'value;
                }
            }
            Some(b'"') => i = string(b, i)?,
            Some(b'-' | b'0'..=b'9') => i = number(b, i)?,
            Some(b't') => i = literal(b, i, b"true")?,
            Some(b'f') => i = literal(b, i, b"false")?,
            Some(b'n') => i = literal(b, i, b"null")?,
            Some(_) => return Err(malformed("expected a value", i)),
            None => return Err(malformed("unexpected end", i)),
        }
        // After a complete value: a separator, the end of its container, or the end of text.
        loop {
            i = skip_ws(b, i);
            if depth == 0 {
                return if i == b.len() { Ok(()) } else { Err(malformed("trailing characters", i)) };
            }
            let in_object = stack[depth - 1];
            match b.get(i) {
                Some(b',') => {
                    i = skip_ws(b, i + 1);
                    if in_object {
                        i = member_key(b, i)?;
                    }
                    continue 'value;
                }
                Some(b'}') if in_object => {
                    i += 1;
                    depth -= 1;
                }
                Some(b']') if !in_object => {
                    i += 1;
                    depth -= 1;
                }
                Some(_) => {
                    return Err(malformed(
                        if in_object { "expected `,` or `}`" } else { "expected `,` or `]`" },
                        i,
                    ))
                }
                None => return Err(malformed("unexpected end", i)),
            }
        }
    }
}

fn malformed(what: &str, at: usize) -> String {
    format!("JSON record is malformed: {what} at byte {at}")
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// `"key"` then `:`; returns the index of the value (whitespace skipped).
fn member_key(b: &[u8], i: usize) -> Result<usize, String> {
    if b.get(i) != Some(&b'"') {
        return Err(malformed("expected a string key", i));
    }
    let i = skip_ws(b, string(b, i)?);
    if b.get(i) != Some(&b':') {
        return Err(malformed("expected `:`", i));
    }
    Ok(skip_ws(b, i + 1))
}

/// A string starting at `b[i] == '"'`; returns the index after its closing quote.
fn string(b: &[u8], mut i: usize) -> Result<usize, String> {
    let start = i;
    i += 1;
    loop {
        // Plain runs 16 bytes at a time: no quote, no backslash, no control character.
        if let Some(rest) = b.get(i..) {
            i += zerobus_schema::plain_run_len(rest);
        }
        match b.get(i) {
            None => return Err(malformed("unterminated string", start)),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => {
                i += 1;
                match b.get(i) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                    Some(b'u') => {
                        let hex = b.get(i + 1..i + 5).ok_or_else(|| malformed("short \\u escape", i))?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(malformed("bad \\u escape", i));
                        }
                        i += 5;
                    }
                    _ => return Err(malformed("bad escape", i)),
                }
            }
            Some(&c) if c < 0x20 => return Err(malformed("control character in string", i)),
            Some(_) => i += 1,
        }
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; returns the index after it.
fn number(b: &[u8], mut i: usize) -> Result<usize, String> {
    let digits = |b: &[u8], mut i: usize| -> Result<usize, String> {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            Err(malformed("expected a digit", i))
        } else {
            Ok(i)
        }
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else {
        i = digits(b, i)?;
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Ok(i)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, String> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(malformed("expected a value", i))
    }
}

#[cfg(test)]
mod tests {
    use super::check_object;

    #[test]
    fn accepts_objects() {
        for ok in [
            "{}",
            " {\"a\":1} ",
            "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\\n\",\"d\":-0.5e+10,\"e\":true,\"f\":false}",
            "{\"nested\":{\"deeper\":{\"k\":[[],{}]}}}",
            "{\"long\":\"abcdefghijklmnopqrstuvwxyz0123456789 plain text past eight bytes\"}",
            "{\"utf8\":\"héllo wörld ✓\"}",
            "\n{\r\n\t\"a\" : 0 }\n",
        ] {
            assert_eq!(check_object(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "[1, 2]",
            "\"s\"",
            "{\"a\": 1",
            "{\"a\" 1}",
            "{a: 1}",
            "{\"a\": 1,}",
            "{\"a\": [1,]}",
            "{\"a\": 01}",
            "{\"a\": 1.}",
            "{\"a\": -}",
            "{\"a\": tru}",
            "{\"a\": \"unterminated}",
            "{\"a\": \"bad \\x escape\"}",
            "{\"a\": \"bad \\u12 escape\"}",
            "{\"a\": \"tab\there\"}",
            "{} {}",
            "{\"a\": 1}]",
            "{\"a\": [}",
        ] {
            assert!(check_object(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_object("[1]").unwrap_err(), "JSON record is not a JSON object");
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(check_object(&deep).unwrap_err().contains("nesting"));
    }

    /// Agrees with serde_json on every prefix of a record with every kind of token (prefixes are
    /// the common corruption: truncated records).
    #[test]
    fn agrees_with_serde_on_prefixes() {
        let full = "{\"i\":12,\"p\":\"xx\\\"\\u0041xxxxxxxxxxxxxx\",\"n\":[-1.5e3,true,false,null,{}],\"o\":{\"k\":\"v\"}}";
        for end in 0..=full.len() {
            let text = &full[..end];
            let serde =
                serde_json::from_str::<serde_json::Value>(text).map(|v| v.is_object()).unwrap_or(false);
            assert_eq!(check_object(text).is_ok(), serde, "{text:?}");
        }
    }
}
