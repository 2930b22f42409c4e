//! Tokens of the filter and path grammar (RFC 7644 §3.4.2.2).

use crate::error::{ScimError, ScimType};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of name characters: an attribute path, a keyword, a number, `true`/`false`/`null`.
    Word(String),
    /// A JSON string literal, already unescaped.
    Str(String),
}

/// Characters of attribute names, URNs (`:` and `.` in `2.0`), `$ref` and numbers (`-1.5e+3`).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_' | '$' | '+')
}

/// Splits `input` into tokens. `kind` is the scimType reported on failure.
pub(crate) fn lex(input: &str, kind: ScimType) -> Result<Vec<Token>, ScimError> {
    let err = |detail: String| ScimError::bad_request(kind, detail);
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::LParen,
                    ')' => Token::RParen,
                    '[' => Token::LBracket,
                    _ => Token::RBracket,
                });
            }
            '"' => {
                let end = string_end(input, i)
                    .ok_or_else(|| err(format!("unterminated string at {i}")))?;
                let raw = input.get(i..end).unwrap_or_default();
                let s: String = serde_json::from_str(raw)
                    .map_err(|e| err(format!("bad string at {i}: {e}")))?;
                tokens.push(Token::Str(s));
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
            c if is_word_char(c) => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                tokens.push(Token::Word(
                    input.get(i..end).unwrap_or_default().to_string(),
                ));
            }
            other => return Err(err(format!("unexpected character {other:?} at {i}"))),
        }
    }
    Ok(tokens)
}

/// The byte index just past the closing quote of the string opening at `start`.
fn string_end(input: &str, start: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Token {
        Token::Word(s.to_string())
    }

    #[test]
    fn tokens() {
        let cases: &[(&str, Vec<Token>)] = &[
            (
                "userName eq \"a\"",
                vec![w("userName"), w("eq"), Token::Str("a".into())],
            ),
            (
                "emails[type eq \"w]\"].value",
                vec![
                    w("emails"),
                    Token::LBracket,
                    w("type"),
                    w("eq"),
                    Token::Str("w]".into()),
                    Token::RBracket,
                    w(".value"),
                ],
            ),
            (
                "(x pr)",
                vec![Token::LParen, w("x"), w("pr"), Token::RParen],
            ),
            (
                "a eq \"\\\"q\\u00e9\"",
                vec![w("a"), w("eq"), Token::Str("\"qé".into())],
            ),
            ("n gt -1.5e+3", vec![w("n"), w("gt"), w("-1.5e+3")]),
        ];
        for (input, want) in cases {
            assert_eq!(
                &lex(input, ScimType::InvalidFilter).expect(input),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn errors() {
        for input in [
            "a eq \"open",
            "a eq 'x'",
            "a eq \"\\q\"",
            "a ! b",
            "a eq \"\\",
        ] {
            let e = lex(input, ScimType::InvalidFilter).expect_err(input);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        }
    }
}
