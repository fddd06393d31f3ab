//! Generic intrusive containers that know nothing about areas: the
//! doubly linked list (`list.h`) and the chained hash over a caller-sized
//! bucket array (`hlist`). The allocator core builds its address list, lazy
//! list, size lists and hash from them.

pub mod hash;
pub mod list;
