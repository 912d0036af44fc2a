//! Just enough of the nf_tables netlink protocol to write the per-container
//! resolver table (a table, a base chain, port-rewriting rules) without running
//! `nft`: a process per container cost ~3 ms of every `run` and `connect`. The
//! messages are the ones `nft --debug=netlink` shows for the same rules; the host's
//! own firewall, rarer and richer, stays with nft JSON.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;

const NFPROTO_IPV4: u8 = 2;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_ACCEPT: u32 = 1;
const NFT_REG_1: u32 = 1;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_PAYLOAD_CSUM_INET: u32 = 1;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CMP_EQ: u32 = 0;

/// One expression of a rule.
pub enum Expr {
    /// Load `len` bytes at `offset` of the network (false) or transport (true) header.
    Load { transport: bool, offset: u32, len: u32 },
    /// Load the layer 4 protocol number.
    L4Proto,
    /// Continue only if the register equals these bytes.
    Equals(Vec<u8>),
    /// Leave the packet untracked by conntrack.
    Notrack,
    /// Put these bytes in the register.
    Immediate(Vec<u8>),
    /// Write the register at `offset` of the transport header, fixing the checksum at `csum_offset`.
    StoreTransport { offset: u32, len: u32, csum_offset: u32 },
}

/// A batch of nf_tables changes for one IPv4 table, applied atomically.
pub struct Batch {
    buf: Vec<u8>,
    seq: u32,
    table: String,
}

impl Batch {
    pub fn new(table: &str) -> Self {
        let mut b = Self { buf: Vec::new(), seq: 0, table: table.to_string() };
        b.message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, |_| {});
        b
    }

    /// `exclusive`: fail with EEXIST if the table is there (the `create` of nft).
    pub fn add_table(&mut self, exclusive: bool) {
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | if exclusive { NLM_F_EXCL } else { 0 };
        let table = self.table.clone();
        self.nft_message(NFT_MSG_NEWTABLE, flags, |m| {
            m.attr_str(1, &table); // NFTA_TABLE_NAME
            m.attr_u32(2, 0); // NFTA_TABLE_FLAGS
        });
    }

    pub fn delete_table(&mut self) {
        let table = self.table.clone();
        self.nft_message(NFT_MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, |m| m.attr_str(1, &table));
    }

    /// A filter chain on the output hook at `priority`, accepting by default.
    pub fn add_output_chain(&mut self, name: &str, priority: i32) {
        let table = self.table.clone();
        self.nft_message(NFT_MSG_NEWCHAIN, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, |m| {
            m.attr_str(1, &table); // NFTA_CHAIN_TABLE
            m.attr_str(3, name); // NFTA_CHAIN_NAME
            m.nested(4, |h| {
                // NFTA_CHAIN_HOOK
                h.attr_u32(1, NF_INET_LOCAL_OUT); // NFTA_HOOK_HOOKNUM
                h.attr_u32(2, priority as u32); // NFTA_HOOK_PRIORITY
            });
            m.attr_u32(5, NF_ACCEPT); // NFTA_CHAIN_POLICY
            m.attr_str(7, "filter"); // NFTA_CHAIN_TYPE
        });
    }

    pub fn add_rule(&mut self, chain: &str, exprs: &[Expr]) {
        let table = self.table.clone();
        self.nft_message(NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, |m| {
            m.attr_str(1, &table); // NFTA_RULE_TABLE
            m.attr_str(2, chain); // NFTA_RULE_CHAIN
            m.nested(4, |list| {
                // NFTA_RULE_EXPRESSIONS
                for e in exprs {
                    list.nested(1, |elem| encode_expr(elem, e)); // NFTA_LIST_ELEM
                }
            });
        });
    }

    /// Sends the batch on a netfilter socket of the calling thread's network
    /// namespace and waits for every acknowledgement; the first error is returned.
    pub fn commit(mut self) -> io::Result<()> {
        self.message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, |_| {});
        let last_seq = self.seq;
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.send_to(&self.buf, &SocketAddr::new(0, 0), 0)?;
        let mut first_error = None;
        let mut acked = 0u32;
        // Messages 1..last_seq-1 carry ACK (begin and end do not).
        let expected = last_seq.saturating_sub(2);
        let mut rx = vec![0u8; 16 * 1024];
        while acked < expected {
            let n = socket.recv(&mut &mut rx[..], 0)?;
            for code in ack_codes(&rx[..n]) {
                acked += 1;
                if code != 0 && first_error.is_none() {
                    first_error = Some(io::Error::from_raw_os_error(-code));
                }
            }
            if first_error.is_some() {
                break;
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether the IPv4 table exists, asked with a plain get (no batch): a batch
    /// that fails (`create` of a table that exists) is aborted, and an abort waits
    /// an RCU grace period (~15 ms), as a delete does.
    pub fn table_exists(table: &str) -> io::Result<bool> {
        let mut b = Self { buf: Vec::new(), seq: 0, table: table.to_string() };
        b.nft_message(NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, |m| m.attr_str(1, table));
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.send_to(&b.buf, &SocketAddr::new(0, 0), 0)?;
        let mut rx = vec![0u8; 16 * 1024];
        loop {
            let n = socket.recv(&mut &mut rx[..], 0)?;
            if let Some(code) = ack_codes(&rx[..n]).next() {
                return match code {
                    0 => Ok(true),
                    code if -code == libc::ENOENT => Ok(false),
                    code => Err(io::Error::from_raw_os_error(-code)),
                };
            }
        }
    }

    fn nft_message(&mut self, kind: u16, flags: u16, body: impl FnOnce(&mut Attrs)) {
        self.message((NFNL_SUBSYS_NFTABLES << 8) | kind, flags, NFPROTO_IPV4, body)
    }

    fn message(&mut self, kind: u16, flags: u16, family: u8, body: impl FnOnce(&mut Attrs)) {
        self.seq += 1;
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // length, filled below
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
                                                         // nfgenmsg: family, version 0, resource id (the subsystem, for batch messages)
        let res_id =
            if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END { NFNL_SUBSYS_NFTABLES } else { 0 };
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        let mut attrs = Attrs { buf: std::mem::take(&mut self.buf) };
        body(&mut attrs);
        self.buf = attrs.buf;
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

fn encode_expr(m: &mut Attrs, e: &Expr) {
    let name = match e {
        Expr::Load { .. } | Expr::StoreTransport { .. } => "payload",
        Expr::L4Proto => "meta",
        Expr::Equals(_) => "cmp",
        Expr::Notrack => "notrack",
        Expr::Immediate(_) => "immediate",
    };
    m.attr_str(1, name); // NFTA_EXPR_NAME
    if matches!(e, Expr::Notrack) {
        return;
    }
    m.nested(2, |d| match e {
        // NFTA_EXPR_DATA
        Expr::Load { transport, offset, len } => {
            d.attr_u32(1, NFT_REG_1); // NFTA_PAYLOAD_DREG
            let base = if *transport { NFT_PAYLOAD_TRANSPORT_HEADER } else { NFT_PAYLOAD_NETWORK_HEADER };
            d.attr_u32(2, base); // NFTA_PAYLOAD_BASE
            d.attr_u32(3, *offset); // NFTA_PAYLOAD_OFFSET
            d.attr_u32(4, *len); // NFTA_PAYLOAD_LEN
        }
        Expr::L4Proto => {
            d.attr_u32(2, NFT_META_L4PROTO); // NFTA_META_KEY
            d.attr_u32(1, NFT_REG_1); // NFTA_META_DREG
        }
        Expr::Equals(bytes) => {
            d.attr_u32(1, NFT_REG_1); // NFTA_CMP_SREG
            d.attr_u32(2, NFT_CMP_EQ); // NFTA_CMP_OP
            d.nested(3, |v| v.attr(1, bytes)); // NFTA_CMP_DATA { NFTA_DATA_VALUE }
        }
        Expr::Immediate(bytes) => {
            d.attr_u32(1, NFT_REG_1); // NFTA_IMMEDIATE_DREG
            d.nested(2, |v| v.attr(1, bytes)); // NFTA_IMMEDIATE_DATA { NFTA_DATA_VALUE }
        }
        Expr::StoreTransport { offset, len, csum_offset } => {
            d.attr_u32(5, NFT_REG_1); // NFTA_PAYLOAD_SREG
            d.attr_u32(2, NFT_PAYLOAD_TRANSPORT_HEADER); // NFTA_PAYLOAD_BASE
            d.attr_u32(3, *offset); // NFTA_PAYLOAD_OFFSET
            d.attr_u32(4, *len); // NFTA_PAYLOAD_LEN
            d.attr_u32(6, NFT_PAYLOAD_CSUM_INET); // NFTA_PAYLOAD_CSUM_TYPE
            d.attr_u32(7, *csum_offset); // NFTA_PAYLOAD_CSUM_OFFSET
            d.attr_u32(8, 0); // NFTA_PAYLOAD_CSUM_FLAGS
        }
        Expr::Notrack => {}
    });
}

/// Netlink attributes (type, length, value, padded to 4 bytes) appended to a buffer.
struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len() + align(len) - len, 0);
    }

    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v);
    }

    /// nf_tables numbers are big-endian.
    fn attr_u32(&mut self, kind: u16, v: u32) {
        self.attr(kind, &v.to_be_bytes());
    }

    fn nested(&mut self, kind: u16, body: impl FnOnce(&mut Attrs)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        body(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

/// The error codes (0 for an ACK) of the NLMSG_ERROR messages in one datagram.
fn ack_codes(datagram: &[u8]) -> impl Iterator<Item = i32> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at + 16 <= datagram.len() {
            let len = u32::from_ne_bytes(datagram[at..at + 4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(datagram[at + 4..at + 6].try_into().expect("2 bytes"));
            if len < 16 || at + len > datagram.len() {
                return None;
            }
            let msg = &datagram[at..at + len];
            at += align(len);
            if kind == NLMSG_ERROR && len >= 20 {
                return Some(i32::from_ne_bytes(msg[16..20].try_into().expect("4 bytes")));
            }
        }
        None
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_cover_their_children() {
        let mut a = Attrs { buf: Vec::new() };
        a.nested(4, |n| n.attr_str(1, "abc"));
        // nested header 4 + child (4 + "abc\0") = 12
        assert_eq!(a.buf.len(), 12);
        assert_eq!(u16::from_ne_bytes([a.buf[0], a.buf[1]]), 12);
        assert_eq!(u16::from_ne_bytes([a.buf[2], a.buf[3]]), 4 | NLA_F_NESTED);
        a.attr(2, &[1]);
        assert_eq!(a.buf.len(), 12 + 8);
    }
}
