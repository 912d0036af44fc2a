use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, State,
};
use rtnetlink::LinkUnspec;

use crate::error::{KernelError, Result};
use crate::Netlink;

/// What netctl needs to know of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, …; None for links without a kind (lo, physical NICs).
    pub kind: Option<String>,
    pub alias: Option<String>,
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The hardware address; empty for links without one.
    pub address: Vec<u8>,
    /// Operationally up (RFC 2863): the kernel has acted on the carrier, and a
    /// bridge forwards what comes in on this link if it is one of its ports.
    pub oper_up: bool,
}

impl LinkInfo {
    fn from_message(msg: LinkMessage) -> Self {
        let mut info = LinkInfo {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            alias: None,
            mtu: 0,
            up: msg.header.flags.contains(LinkFlags::Up),
            address: Vec::new(),
            oper_up: false,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => info.name = name,
                LinkAttribute::IfAlias(alias) => info.alias = Some(alias),
                LinkAttribute::Mtu(mtu) => info.mtu = mtu,
                LinkAttribute::Address(address) => info.address = address,
                LinkAttribute::OperState(state) => info.oper_up = state == State::Up,
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let NlLinkInfo::Kind(kind) = i {
                            info.kind = Some(kind_name(&kind));
                        }
                    }
                }
                _ => {}
            }
        }
        info
    }
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::Dummy => "dummy".into(),
        other => other.to_string(),
    }
}

impl Netlink {
    pub async fn links(&self) -> Result<Vec<LinkInfo>> {
        let mut stream = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(|e| KernelError::netlink("list links", e))? {
            out.push(LinkInfo::from_message(msg));
        }
        Ok(out)
    }

    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkInfo>> {
        Ok(self.link_message(name).await?.map(LinkInfo::from_message))
    }

    /// The kernel's whole message for the link `name`, None if there is none: for
    /// readers of attributes `LinkInfo` leaves out (vxlan.rs).
    pub(crate) async fn link_message(&self, name: &str) -> Result<Option<LinkMessage>> {
        let mut stream = self.handle.link().get().match_name(name.to_string()).execute();
        match stream.try_next().await {
            Ok(msg) => Ok(msg),
            Err(e) => {
                let err = KernelError::netlink(format!("look up link {name}"), e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    pub async fn link_by_index(&self, index: u32) -> Result<Option<LinkInfo>> {
        let mut stream = self.handle.link().get().match_index(index).execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(LinkInfo::from_message(msg))),
            Ok(None) => Ok(None),
            Err(e) => {
                let err = KernelError::netlink(format!("look up link {index}"), e);
                if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes a link by name; Ok(false) if there was none.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) => {
                let err = KernelError::netlink(format!("delete link {name}"), e);
                if err.is_not_found() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Sets IFLA_IFALIAS. The kernel ignores an alias given at creation, so it
    /// is always set by a change of its own.
    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).alias(alias.to_string()).build();
        self.change_link(msg, || format!("set alias of link {index}")).await
    }

    /// Sets the hardware address, which also keeps the kernel from choosing
    /// another one later (a bridge otherwise follows its ports').
    pub async fn set_address(&self, index: u32, address: &[u8]) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).address(address.to_vec()).build();
        self.change_link(msg, || format!("set hardware address of link {index}")).await
    }

    pub async fn set_link_up(&self, index: u32, mtu: Option<u32>) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(index).up();
        if let Some(mtu) = mtu {
            msg = msg.mtu(mtu);
        }
        self.change_link(msg.build(), || format!("set link {index} up")).await
    }

    async fn change_link(&self, msg: LinkMessage, op: impl FnOnce() -> String) -> Result<()> {
        self.handle.link().set(msg).execute().await.map_err(|e| KernelError::netlink(op(), e))
    }
}
