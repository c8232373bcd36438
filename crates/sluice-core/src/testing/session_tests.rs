//! Sessions end to end over memory pipes.
