//! Message type bytes, by name.
//!
//! The same byte means different things in the two directions (`S` is Sync
//! from a client and ParameterStatus from a server; `D` is Describe and
//! DataRow; `E` is Execute and ErrorResponse; `C` is Close and
//! CommandComplete), so the constants live in two modules and code says
//! which direction it reads. The server half re-exports postgres-protocol's
//! constants; the client half is not public there, so it is written here.

/// What clients send (the frontend's messages).
pub mod frontend {
    pub const BIND: u8 = b'B';
    pub const CLOSE: u8 = b'C';
    pub const COPY_DATA: u8 = b'd';
    pub const COPY_DONE: u8 = b'c';
    pub const COPY_FAIL: u8 = b'f';
    pub const DESCRIBE: u8 = b'D';
    pub const EXECUTE: u8 = b'E';
    pub const FLUSH: u8 = b'H';
    pub const FUNCTION_CALL: u8 = b'F';
    pub const PARSE: u8 = b'P';
    /// PasswordMessage, SASLInitialResponse and SASLResponse share it.
    pub const PASSWORD: u8 = b'p';
    pub const QUERY: u8 = b'Q';
    pub const SYNC: u8 = b'S';
    pub const TERMINATE: u8 = b'X';
}

/// What servers send (the backend's messages).
pub mod backend {
    use postgres_protocol::message::backend as pp;

    pub const AUTHENTICATION: u8 = pp::AUTHENTICATION_TAG;
    pub const BACKEND_KEY_DATA: u8 = pp::BACKEND_KEY_DATA_TAG;
    pub const BIND_COMPLETE: u8 = pp::BIND_COMPLETE_TAG;
    pub const CLOSE_COMPLETE: u8 = pp::CLOSE_COMPLETE_TAG;
    pub const COMMAND_COMPLETE: u8 = pp::COMMAND_COMPLETE_TAG;
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    pub const COPY_DATA: u8 = pp::COPY_DATA_TAG;
    pub const COPY_DONE: u8 = pp::COPY_DONE_TAG;
    pub const COPY_IN_RESPONSE: u8 = pp::COPY_IN_RESPONSE_TAG;
    pub const COPY_OUT_RESPONSE: u8 = pp::COPY_OUT_RESPONSE_TAG;
    pub const DATA_ROW: u8 = pp::DATA_ROW_TAG;
    pub const EMPTY_QUERY_RESPONSE: u8 = pp::EMPTY_QUERY_RESPONSE_TAG;
    pub const ERROR_RESPONSE: u8 = pp::ERROR_RESPONSE_TAG;
    pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    pub const NO_DATA: u8 = pp::NO_DATA_TAG;
    pub const NOTICE_RESPONSE: u8 = pp::NOTICE_RESPONSE_TAG;
    pub const NOTIFICATION_RESPONSE: u8 = pp::NOTIFICATION_RESPONSE_TAG;
    pub const PARAMETER_DESCRIPTION: u8 = pp::PARAMETER_DESCRIPTION_TAG;
    pub const PARAMETER_STATUS: u8 = pp::PARAMETER_STATUS_TAG;
    pub const PARSE_COMPLETE: u8 = pp::PARSE_COMPLETE_TAG;
    pub const PORTAL_SUSPENDED: u8 = pp::PORTAL_SUSPENDED_TAG;
    pub const READY_FOR_QUERY: u8 = pp::READY_FOR_QUERY_TAG;
    pub const ROW_DESCRIPTION: u8 = pp::ROW_DESCRIPTION_TAG;
}

/// Transaction status in a ReadyForQuery body.
pub mod status {
    pub const IDLE: u8 = b'I';
    pub const IN_TRANSACTION: u8 = b'T';
    pub const FAILED_TRANSACTION: u8 = b'E';
}

/// Authentication request codes (the int32 after `R`).
pub mod auth {
    pub const OK: i32 = 0;
    pub const CLEARTEXT_PASSWORD: i32 = 3;
    pub const MD5_PASSWORD: i32 = 5;
    pub const SASL: i32 = 10;
    pub const SASL_CONTINUE: i32 = 11;
    pub const SASL_FINAL: i32 = 12;
}

/// What a Describe or Close names (the byte before the name).
pub mod target {
    pub const STATEMENT: u8 = b'S';
    pub const PORTAL: u8 = b'P';
}

/// ErrorResponse / NoticeResponse field codes.
pub mod field {
    /// Severity, possibly localized.
    pub const SEVERITY_LOCALIZED: u8 = b'S';
    /// Severity, never localized.
    pub const SEVERITY: u8 = b'V';
    /// SQLSTATE.
    pub const CODE: u8 = b'C';
    pub const MESSAGE: u8 = b'M';
    pub const DETAIL: u8 = b'D';
    pub const HINT: u8 = b'H';
}
