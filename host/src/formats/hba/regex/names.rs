//! `cnames` of `src/backend/regex/regc_locale.c`: the names a collating element
//! (`[[.name.]]`) may use besides a single character.

/// Name → character.
#[rustfmt::skip]
pub(super) const NAMED_CHARS: &[(&str, char)] = &[
    ("NUL", '\x00'), ("SOH", '\x01'), ("STX", '\x02'), ("ETX", '\x03'), ("EOT", '\x04'),
    ("ENQ", '\x05'), ("ACK", '\x06'), ("BEL", '\x07'), ("alert", '\x07'), ("BS", '\x08'),
    ("backspace", '\x08'), ("HT", '\x09'), ("tab", '\x09'), ("LF", '\x0a'),
    ("newline", '\x0a'), ("VT", '\x0b'), ("vertical-tab", '\x0b'), ("FF", '\x0c'),
    ("form-feed", '\x0c'), ("CR", '\x0d'), ("carriage-return", '\x0d'), ("SO", '\x0e'),
    ("SI", '\x0f'), ("DLE", '\x10'), ("DC1", '\x11'), ("DC2", '\x12'), ("DC3", '\x13'),
    ("DC4", '\x14'), ("NAK", '\x15'), ("SYN", '\x16'), ("ETB", '\x17'), ("CAN", '\x18'),
    ("EM", '\x19'), ("SUB", '\x1a'), ("ESC", '\x1b'), ("IS4", '\x1c'), ("FS", '\x1c'),
    ("IS3", '\x1d'), ("GS", '\x1d'), ("IS2", '\x1e'), ("RS", '\x1e'), ("IS1", '\x1f'),
    ("US", '\x1f'), ("space", ' '), ("exclamation-mark", '!'), ("quotation-mark", '"'),
    ("number-sign", '#'), ("dollar-sign", '$'), ("percent-sign", '%'), ("ampersand", '&'),
    ("apostrophe", '\''), ("left-parenthesis", '('), ("right-parenthesis", ')'),
    ("asterisk", '*'), ("plus-sign", '+'), ("comma", ','), ("hyphen", '-'),
    ("hyphen-minus", '-'), ("period", '.'), ("full-stop", '.'), ("slash", '/'),
    ("solidus", '/'), ("zero", '0'), ("one", '1'), ("two", '2'), ("three", '3'), ("four", '4'),
    ("five", '5'), ("six", '6'), ("seven", '7'), ("eight", '8'), ("nine", '9'), ("colon", ':'),
    ("semicolon", ';'), ("less-than-sign", '<'), ("equals-sign", '='),
    ("greater-than-sign", '>'), ("question-mark", '?'), ("commercial-at", '@'),
    ("left-square-bracket", '['), ("backslash", '\\'), ("reverse-solidus", '\\'),
    ("right-square-bracket", ']'), ("circumflex", '^'), ("circumflex-accent", '^'),
    ("underscore", '_'), ("low-line", '_'), ("grave-accent", '`'), ("left-brace", '{'),
    ("left-curly-bracket", '{'), ("vertical-line", '|'), ("right-brace", '}'),
    ("right-curly-bracket", '}'), ("tilde", '~'), ("DEL", '\x7f'),
];
