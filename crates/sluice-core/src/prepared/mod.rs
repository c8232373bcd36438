//! Protocol-level named prepared statements in transaction and statement
//! mode (`max_prepared_statements`, default 200, 0 = off).
//!
//! A client's named statements must survive being moved between server
//! connections. Sluice keeps three things:
//!
//! - **Registry** (`registry`, one per instance, in `Shared`): one entry
//!   per distinct (query text, parameter type OIDs) — the bytes of the
//!   Parse after the name — with a server-side name Sluice owns,
//!   `sluice_s_<id>`. Identical statements of different clients share it.
//!   Entries are reference counted by the maps below and freed with their
//!   last user; `Registry::usage()` reports entries and bytes.
//! - **Client map** (`client`, in the client's session): the client's
//!   names → registry entries. The unnamed statement is not mapped and
//!   passes through untouched.
//! - **Server cache** (`cache`, in each `ServerConn`): which entries that
//!   backend has, LRU, bounded by `max_prepared_statements`; evictions
//!   send a Close whose CloseComplete the client never sees.
//!
//! Per link (`link`), client messages are rewritten on the way:
//!
//! | client sends | Sluice does |
//! |---|---|
//! | Parse `name` | map it; if the server has the entry, answer ParseComplete itself, else Close + Parse under our name (real ParseComplete forwarded) |
//! | Parse of a name already mapped | 42P05 "prepared statement … already exists", as Postgres |
//! | Bind / Describe 'S' `name` | rename; if the server lacks it, Close + Parse first (hidden) |
//! | Bind / Describe of an unknown name | forwarded as is: Postgres answers 26000 with the client's name |
//! | Close 'S' `name` | unmap, answer CloseComplete itself; the server keeps its copy |
//! | `DEALLOCATE name` (lone simple query, or unnamed Parse) | unmap; answered here, or run on our name |
//! | DISCARD ALL / DEALLOCATE ALL (seen in CommandComplete) | clear the client map and the server cache |
//!
//! Responses Sluice makes or hides are placed by an ordered queue of what
//! the server owes (see `link`), so they land exactly where Postgres would
//! put them, pipelines included, and after an ErrorResponse the queue
//! skips to the Sync as the server does — a skipped or failed Parse leaves
//! no trace in either map. An error Sluice makes (42P05) is delivered by
//! sending the server a Describe that must fail and replacing its
//! ErrorResponse, so the server's transaction aborts just as it would.
//!
//! What a Sync segment does to names is only known once the server has
//! answered it (an error anywhere in it undoes it all). So a message of a
//! later segment that uses a name whose mapping changed in an earlier,
//! still unanswered segment is held back (`Verdict::Hold`: the relay
//! stops reading the client) until that segment's ReadyForQuery arrives.
//! Pipelines that define and use names in one segment never wait; a
//! client that prepares in one segment and uses the name in the next
//! waits one round trip, once. Likewise a Parse Sluice sent counts as
//! "on the server" only within its own segment; a later segment sends it
//! again (harmless, see below) rather than bet on it.
//!
//! Before each Parse under our name Sluice sends a Close of that name:
//! closing a missing statement is no error, and it means a backend copy
//! the cache lost track of can never make our Parse fail. The cache may
//! therefore under-report, never over-report.
//!
//! After DDL, a cached plan may fail with 0A000 "cached plan must not
//! change result type". The error reaches the client unchanged (the
//! messages after it were already skipped by the server, so there is
//! nothing left to retry transparently); the entry is dropped from the
//! registry so new Parses of that text get a fresh statement, and that
//! server's copy is closed and re-parsed on its next use.
//!
//! Session mode passes everything through untouched: the client owns its
//! server for the whole session, so names need no translation.
//!
//! Counters (per pool, `stats.rs`): `client_parse_count` for every named
//! Parse a client sends, `server_parse_count` for every Parse Sluice sends
//! under its own name, `bind_count` for every Bind of a named statement.
//!
//! Memory: the registry holds one copy of each distinct statement in use;
//! it is bounded by what clients keep prepared (as a Postgres backend
//! would hold it) plus servers × `max_prepared_statements`. Server caches
//! and client maps only hold references. `Registry::usage()` measures it.
//!
//! The same waiting covers SQL: a lone `DEALLOCATE name` query waits for
//! the answers still due before it (then Sluice knows the transaction
//! status and answers it), and after a DISCARD ALL / DEALLOCATE ALL
//! (simple query or unnamed Parse) later segments wait for its answer
//! before naming a statement.
//!
//! Known limits: `DEALLOCATE name` sent after unsynced extended messages
//! is only translated if the linked server has the statement; a reset
//! inside a multi-statement query string is applied when its
//! CommandComplete arrives; SQL-level `PREPARE`/`EXECUTE` pass through
//! untouched, as in PgBouncer.
//!
//! Cost when on: Parse (named: whole, capped at `MAX_REWRITTEN_PARSE`, 1
//! MiB — bigger is 08P01; unnamed: its first bytes), Bind (its first 64
//! kB, the rest streams), Describe and Close are gathered; Execute, Sync,
//! data rows and everything else stream as before.

pub mod cache;
pub mod client;
pub mod link;
pub mod messages;
pub mod registry;

pub use cache::ServerStatements;
pub use client::ClientStatements;
pub use link::{Counts, LinkStatements, Statements};
pub use registry::{Registry, RegistryUsage, Statement};
