//! Generic intrusive containers that know nothing about areas (internal:
//! raw `list.h`-style building blocks with `unsafe` entry points, not an
//! API for others): the
//! doubly linked list (`list.h`) and the chained hash over a caller-sized
//! bucket array (`hlist`). The allocator core builds its address list, lazy
//! list, size lists and hash from them.

pub(crate) mod hash;
pub(crate) mod list;

#[cfg(test)]
mod tests;
