//! HTTP's syntax for header names and values (RFC 9110), as every module that takes a header from
//! a configuration, a client or Lambda checks it.

/// A `token`: a header name's characters, at least one.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `field-value` characters: no control bytes but tab.
pub fn is_field_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_field_values() {
        for name in ["x-amz-date", "Host", "a!#$%&'*+-.^_`|~9"] {
            assert!(is_token(name), "{name}");
        }
        for name in ["", "a b", "a:b", "a\"", "é", "a\t", "(x)"] {
            assert!(!is_token(name), "{name:?}");
        }
        for value in ["", "a b\tc", "caf\u{e9} ~!"] {
            assert!(is_field_value(value), "{value:?}");
        }
        for value in ["a\r\nb", "\0", "a\u{7f}", "\u{1b}[0m"] {
            assert!(!is_field_value(value), "{value:?}");
        }
    }
}
