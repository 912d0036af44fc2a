//! The kernel data plane of overlay networks (issue 16), netctl-kernel's VXLAN API
//! on its own: two "hosts" (namespaces h1 and h2 inside the sandbox, joined by a
//! veth, the underlay 192.168.77.0/24), each with a bridge, a VXLAN device made by
//! the API and "containers" (namespaces with a veth on the bridge). The API runs
//! on a thread that has joined a host's namespace; what it did is checked with
//! `ip`, `bridge` and `ping`, as a user would.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;

use netctl_kernel::{netns, BridgeSpec, KernelError, Netlink, VxlanRepair, VxlanSpec};
use netctl_tests::{Out, Sandbox};
use serde_json::Value;

#[derive(Clone, Copy)]
struct Net {
    id: &'static str,
    bridge: &'static str,
    vxlan: &'static str,
    vni: u32,
}

const A: Net = Net { id: "neta", bridge: "br-a", vxlan: "vx-a", vni: 4096 };
const B: Net = Net { id: "netb", bridge: "br-b", vxlan: "vx-b", vni: 4097 };

#[derive(Clone, Copy)]
struct Host {
    ns: &'static str,
    underlay: &'static str,
}

const H1: Host = Host { ns: "h1", underlay: "192.168.77.1" };
const H2: Host = Host { ns: "h2", underlay: "192.168.77.2" };

impl Host {
    fn ip(&self) -> IpAddr {
        self.underlay.parse().unwrap()
    }
}

#[derive(Clone, Copy)]
struct Ctr {
    ns: &'static str,
    host: Host,
    net: Net,
    mac: [u8; 6],
    ip4: &'static str,
    ip6: &'static str,
}

impl Ctr {
    fn mac_str(&self) -> String {
        self.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }

    fn ips(&self) -> Vec<IpAddr> {
        vec![self.ip4.parse().unwrap(), self.ip6.parse().unwrap()]
    }
}

/// Runs `f` with a netlink connection opened in the namespace at `path`, on a
/// thread of its own with a current-thread runtime.
fn on<T, F, Fut>(path: PathBuf, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Netlink) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let ns = netns::open_netns(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    netns::run_in_netns(&ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Ok(rt.block_on(async move { f(Netlink::connect().expect("netlink")).await }))
    })
    .expect("the API's thread")
}

fn on_host<T, F, Fut>(sb: &Sandbox, host: Host, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Netlink) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    on(sb.inner_netns_path(host.ns), f)
}

/// h1 and h2 joined by a veth: u1 192.168.77.1/24 in h1, u2 .2/24 in h2.
fn two_hosts(sb: &Sandbox) {
    sb.sh("set -e
         ip netns add h1; ip netns add h2
         ip -n h1 link set lo up; ip -n h2 link set lo up
         ip -n h1 link add u1 type veth peer name u2 netns h2
         ip -n h1 addr add 192.168.77.1/24 dev u1; ip -n h1 link set u1 up
         ip -n h2 addr add 192.168.77.2/24 dev u2; ip -n h2 link set u2 up")
        .ok();
}

/// The network's bridge and VXLAN device on `host`, as the daemon will make them
/// (MTU from the underlay); returns the MTU.
fn make_network(sb: &Sandbox, host: Host, net: Net) -> u32 {
    let local = host.ip();
    on_host(sb, host, move |nl| async move {
        let mtu = nl.mtu_for_underlay(local).await.expect("underlay MTU");
        nl.create_bridge(&BridgeSpec { name: net.bridge, mtu, addresses: &[], network_id: net.id })
            .await
            .expect("bridge");
        nl.create_vxlan(&VxlanSpec {
            name: net.vxlan,
            vni: net.vni,
            local,
            port: 4789,
            mtu,
            bridge: net.bridge,
            network_id: net.id,
        })
        .await
        .expect("vxlan");
        mtu
    })
}

/// A "container": namespace `c.ns` with eth0 (its MAC, its addresses) whose
/// peer is a port of the network's bridge on its host.
fn container(sb: &Sandbox, c: Ctr, mtu: u32) {
    let (ns, host, br, mac, ip4, ip6) = (c.ns, c.host.ns, c.net.bridge, c.mac_str(), c.ip4, c.ip6);
    sb.sh(&format!(
        "set -e
         ip netns add {ns}; ip -n {ns} link set lo up
         ip -n {host} link add v-{ns} mtu {mtu} type veth peer name eth0 netns {ns}
         ip -n {host} link set v-{ns} master {br} up
         ip -n {ns} link set eth0 address {mac} mtu {mtu} up
         ip -n {ns} addr add {ip4}/24 dev eth0
         ip -n {ns} addr add {ip6}/64 dev eth0 nodad"
    ))
    .ok();
}

/// Programs `remote` on the host `on` (its VXLAN device of `remote`'s network).
fn add_remote(sb: &Sandbox, on: Host, remote: Ctr) {
    let (vx, mac, ips, underlay) = (remote.net.vxlan, remote.mac, remote.ips(), remote.host.ip());
    on_host(sb, on, move |nl| async move { nl.add_remote_endpoint(vx, mac, &ips, underlay).await })
        .expect("add_remote_endpoint");
}

fn remove_remote(sb: &Sandbox, on: Host, remote: Ctr) {
    let (vx, mac, ips, underlay) = (remote.net.vxlan, remote.mac, remote.ips(), remote.host.ip());
    on_host(sb, on, move |nl| async move { nl.remove_remote_endpoint(vx, mac, &ips, underlay).await })
        .expect("remove_remote_endpoint");
}

fn remote_endpoints(sb: &Sandbox, on: Host, vx: &'static str) -> Vec<([u8; 6], IpAddr)> {
    on_host(sb, on, move |nl| async move { nl.remote_endpoints(vx).await }).expect("remote_endpoints")
}

fn ping(sb: &Sandbox, from: Ctr, to: &str) -> Out {
    sb.sh(&format!("ip netns exec {} ping -c 2 -i 0.2 -W 1 {to}", from.ns))
}

fn link(sb: &Sandbox, host: Host, dev: &str) -> Value {
    let v = sb.sh(&format!("ip -n {} -j -d link show {dev}", host.ns)).ok().json();
    v[0].clone()
}

fn fdb(sb: &Sandbox, host: Host, dev: &str) -> Vec<Value> {
    let v = sb.sh(&format!("bridge -n {} -j fdb show dev {dev}", host.ns)).ok().json();
    v.as_array().cloned().unwrap_or_default()
}

fn neighbours(sb: &Sandbox, host: Host, dev: &str) -> Vec<Value> {
    let v = sb.sh(&format!("ip -n {} -j neigh show dev {dev}", host.ns)).ok().json();
    v.as_array().cloned().unwrap_or_default()
}

/// The MAC a container has for `ip` in its neighbour table.
fn lladdr_in(sb: &Sandbox, c: Ctr, ip: &str) -> String {
    let v = sb.sh(&format!("ip -n {} -j neigh show {ip}", c.ns)).ok().json();
    v[0]["lladdr"].as_str().unwrap_or("").to_string()
}

fn ctr(ns: &'static str, host: Host, net: Net, last: u8, ip4: &'static str, ip6: &'static str) -> Ctr {
    Ctr { ns, host, net, mac: [0x02, 0x42, 0x0a, 0xc8, net.vni as u8, last], ip4, ip6 }
}

#[test]
fn containers_on_two_hosts_reach_each_other_with_nothing_learnt_or_flooded() {
    let sb = Sandbox::new();
    two_hosts(&sb);
    let mtu1 = make_network(&sb, H1, A);
    let mtu2 = make_network(&sb, H2, A);
    assert_eq!((mtu1, mtu2), (1450, 1450), "underlay veths of 1500 less 50");
    let c1 = ctr("c1", H1, A, 2, "10.200.0.2", "fd00:200::2");
    let c2 = ctr("c2", H2, A, 3, "10.200.0.3", "fd00:200::3");
    container(&sb, c1, mtu1);
    container(&sb, c2, mtu2);

    // Nothing programmed: nothing is flooded to the other host, so no answer.
    ping(&sb, c1, c2.ip4).fail();

    add_remote(&sb, H1, c2);
    add_remote(&sb, H2, c1);
    // Replace semantics: programming it again changes nothing and is no error.
    add_remote(&sb, H1, c2);
    ping(&sb, c1, c2.ip4).ok();
    ping(&sb, c2, c1.ip4).ok();
    ping(&sb, c1, c2.ip6).ok();
    // Full-size frames of the overlay's MTU cross the 1500-byte underlay.
    sb.sh(&format!("ip netns exec c1 ping -c 1 -W 1 -M do -s {} {}", mtu1 - 28, c2.ip4)).ok();
    // The address was answered by h1's VXLAN device (proxy), from its entry.
    assert_eq!(lladdr_in(&sb, c1, c2.ip4), c2.mac_str());
    assert_eq!(lladdr_in(&sb, c1, c2.ip6), c2.mac_str());

    // The device as `ip -d` shows it.
    let vx = link(&sb, H1, "vx-a");
    let data = &vx["linkinfo"]["info_data"];
    assert_eq!(vx["linkinfo"]["info_kind"], "vxlan", "{vx}");
    assert_eq!(data["id"], 4096, "{vx}");
    assert_eq!(data["local"], "192.168.77.1", "{vx}");
    assert_eq!(data["port"], 4789, "{vx}");
    assert_eq!(data["learning"], false, "{vx}");
    assert_eq!(data["proxy"], true, "{vx}");
    assert!(data.get("group").is_none() && data.get("remote").is_none(), "no flooding target: {vx}");
    assert_eq!(vx["mtu"], 1450, "{vx}");
    assert_eq!(vx["master"], "br-a", "{vx}");
    assert_eq!(vx["ifalias"], "netctl:neta", "{vx}");
    assert!(vx["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{vx}");
    assert_eq!(vx["linkinfo"]["info_slave_data"]["learning"], false, "bridge port learning: {vx}");
    // No IPv6 address of its own (it would send MLD into the tunnel).
    let addrs = sb.sh("ip -n h1 -j addr show dev vx-a").ok().json();
    assert_eq!(addrs[0]["addr_info"].as_array().map(Vec::len), Some(0), "{addrs}");

    // Forwarding entries after the traffic: the two permanent ones, nothing learnt.
    let entries = fdb(&sb, H1, "vx-a");
    let own_mac = vx["address"].as_str().unwrap();
    let mac2 = c2.mac_str();
    assert!(
        entries.iter().any(|e| e["mac"] == mac2.as_str()
            && e["dst"] == "192.168.77.2"
            && e["flags"].as_array().unwrap().iter().any(|f| f == "self")
            && e["state"] == "permanent"),
        "the device's entry: {entries:?}"
    );
    assert!(
        entries.iter().any(|e| e["mac"] == mac2.as_str() && e["master"] == "br-a" && e["state"] == "static"),
        "the bridge's entry towards the VXLAN port: {entries:?}"
    );
    for e in &entries {
        let known = e["mac"] == mac2.as_str() || e["mac"] == own_mac;
        assert!(known && e["state"] != "", "a learnt or unexpected entry on vx-a: {e} in {entries:?}");
        assert_ne!(e["mac"], "00:00:00:00:00:00", "a flooding entry: {entries:?}");
    }
    let neigh = neighbours(&sb, H1, "vx-a");
    for ip in [c2.ip4, c2.ip6] {
        assert!(
            neigh.iter().any(|n| n["dst"] == ip
                && n["lladdr"] == mac2.as_str()
                && n["state"].as_array().is_some_and(|s| s.iter().any(|x| x == "PERMANENT"))),
            "{ip} in {neigh:?}"
        );
    }
    assert_eq!(remote_endpoints(&sb, H1, "vx-a"), vec![(c2.mac, H2.ip())]);
    assert_eq!(remote_endpoints(&sb, H2, "vx-a"), vec![(c1.mac, H1.ip())]);

    // Removed: c1 still has c2's MAC cached, and its frames go nowhere.
    remove_remote(&sb, H1, c2);
    ping(&sb, c1, c2.ip4).fail();
    // Asked anew, nobody answers for c2's address.
    sb.sh("ip -n c1 neigh flush all").ok();
    ping(&sb, c1, c2.ip4).fail();
    assert_eq!(lladdr_in(&sb, c1, c2.ip4), "", "no answer for a removed endpoint");
    let entries = fdb(&sb, H1, "vx-a");
    assert!(!entries.iter().any(|e| e["mac"] == mac2.as_str()), "{entries:?}");
    assert!(neighbours(&sb, H1, "vx-a").is_empty());
    assert!(remote_endpoints(&sb, H1, "vx-a").is_empty());
    // Gone already, or no such device: no error.
    remove_remote(&sb, H1, c2);
    let nothing = Ctr { net: Net { vxlan: "vx-none", ..A }, ..c2 };
    remove_remote(&sb, H1, nothing);
    assert!(remote_endpoints(&sb, H1, "vx-none").is_empty());
    // Programmed again, it answers again.
    add_remote(&sb, H1, c2);
    ping(&sb, c1, c2.ip4).ok();
}

#[test]
fn a_second_vni_on_the_same_hosts_is_isolated_from_the_first() {
    let sb = Sandbox::new();
    two_hosts(&sb);
    let mut mtu = 0;
    for host in [H1, H2] {
        for net in [A, B] {
            mtu = make_network(&sb, host, net);
        }
    }
    // The same addresses on both networks; only the MACs differ.
    let a1 = ctr("a1", H1, A, 2, "10.200.0.2", "fd00:200::2");
    let a2 = ctr("a2", H2, A, 3, "10.200.0.3", "fd00:200::3");
    let b1 = ctr("b1", H1, B, 2, "10.200.0.2", "fd00:200::2");
    let b2 = ctr("b2", H2, B, 3, "10.200.0.3", "fd00:200::3");
    for c in [a1, a2, b1, b2] {
        container(&sb, c, mtu);
    }
    add_remote(&sb, H1, a2);
    add_remote(&sb, H2, a1);
    add_remote(&sb, H1, b2);
    add_remote(&sb, H2, b1);
    // Both devices share the UDP port, told apart by VNI.
    for (net, vni) in [(A, 4096), (B, 4097)] {
        let vx = link(&sb, H2, net.vxlan);
        assert_eq!(vx["linkinfo"]["info_data"]["id"], vni, "{vx}");
        assert_eq!(vx["linkinfo"]["info_data"]["port"], 4789, "{vx}");
    }
    // Echo requests that reached a container (its namespace's ICMP counters).
    let rx = |c: Ctr| -> u64 {
        let out = sb.sh(&format!(
            "ip netns exec {} awk '/^Icmp:/ {{ if (!h) {{ for (i = 1; i <= NF; i++) if ($i == \"InEchos\") c = i; h = 1 }} else print $c }}' /proc/net/snmp",
            c.ns
        ));
        out.ok().trimmed().parse().expect("InEchos")
    };
    let b2_before = rx(b2);
    ping(&sb, a1, "10.200.0.3").ok();
    assert_eq!(lladdr_in(&sb, a1, "10.200.0.3"), a2.mac_str());
    assert_eq!(rx(b2), b2_before, "network A's pings reached network B's container");
    ping(&sb, b1, "10.200.0.3").ok();
    assert_eq!(lladdr_in(&sb, b1, "10.200.0.3"), b2.mac_str());

    // Even frames addressed to B's container, if A's device were told to send
    // them, arrive with A's VNI at h2 and stay on A's bridge.
    let wrong = Ctr { net: A, ip4: "10.200.0.99", ip6: "fd00:200::99", ..b2 };
    add_remote(&sb, H1, wrong);
    sb.sh("ip -n b2 addr add 10.200.0.99/24 dev eth0").ok();
    let b2_before = rx(b2);
    ping(&sb, a1, "10.200.0.99").fail();
    assert_eq!(lladdr_in(&sb, a1, "10.200.0.99"), b2.mac_str(), "h1 answered from the (wrong) entry");
    assert_eq!(rx(b2), b2_before, "a frame with A's VNI reached network B");
}

#[test]
fn ensure_vxlan_repairs_what_changed_and_remakes_what_cannot_change() {
    let sb = Sandbox::new();
    two_hosts(&sb);
    let ensure = |vni: u32, mtu: u32| -> Result<VxlanRepair, KernelError> {
        on_host(&sb, H1, move |nl| async move {
            nl.ensure_vxlan(&VxlanSpec {
                name: "vx-a",
                vni,
                local: H1.ip(),
                port: 4789,
                mtu,
                bridge: "br-a",
                network_id: "neta",
            })
            .await
        })
    };
    on_host(&sb, H1, |nl| async move {
        nl.create_bridge(&BridgeSpec { name: "br-a", mtu: 1450, addresses: &[], network_id: "neta" }).await
    })
    .expect("bridge");

    assert_eq!(ensure(4096, 1450).unwrap(), VxlanRepair { created: true, ..Default::default() });
    assert!(ensure(4096, 1450).unwrap().is_noop(), "a device as specified is left alone");
    let index = link(&sb, H1, "vx-a")["ifindex"].clone();

    // Taken off its bridge, down, another MTU and alias: all put back in place.
    sb.sh("ip -n h1 link set vx-a nomaster && ip -n h1 link set vx-a down mtu 1400 alias someone").ok();
    let repair = ensure(4096, 1450).unwrap();
    assert_eq!(
        repair,
        VxlanRepair {
            enslaved: true,
            port_learning_off: true,
            brought_up: true,
            mtu_set: true,
            marker_set: true,
            ..Default::default()
        }
    );
    let vx = link(&sb, H1, "vx-a");
    assert_eq!(vx["ifindex"], index, "repaired in place: {vx}");
    assert_eq!(vx["master"], "br-a", "{vx}");
    assert_eq!(vx["mtu"], 1450, "{vx}");
    assert_eq!(vx["ifalias"], "netctl:neta", "{vx}");
    assert_eq!(vx["linkinfo"]["info_slave_data"]["learning"], false, "{vx}");
    assert!(vx["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{vx}");

    // Learning turned back on by hand (`ip link set … type vxlan learning`): made anew.
    sb.sh("ip -n h1 link set vx-a type vxlan learning").ok();
    assert_eq!(link(&sb, H1, "vx-a")["linkinfo"]["info_data"]["learning"], true);
    assert_eq!(ensure(4096, 1450).unwrap(), VxlanRepair { recreated: true, ..Default::default() });
    assert_eq!(link(&sb, H1, "vx-a")["linkinfo"]["info_data"]["learning"], false);

    // Another VNI: made anew, and the entries of the old device went with it.
    let c2 = ctr("c2", H2, A, 3, "10.200.0.3", "fd00:200::3");
    add_remote(&sb, H1, c2);
    assert_eq!(remote_endpoints(&sb, H1, "vx-a").len(), 1);
    assert_eq!(ensure(5000, 1450).unwrap(), VxlanRepair { recreated: true, ..Default::default() });
    let vx = link(&sb, H1, "vx-a");
    assert_eq!(vx["linkinfo"]["info_data"]["id"], 5000, "{vx}");
    assert_eq!(vx["master"], "br-a", "{vx}");
    assert_eq!(vx["linkinfo"]["info_data"]["proxy"], true, "{vx}");
    assert!(remote_endpoints(&sb, H1, "vx-a").is_empty());

    // The start-up sweep's listings: the VXLAN device is not taken for a bridge.
    let (vxlans, bridges) = on_host(&sb, H1, |nl| async move {
        (nl.owned_vxlans().await.unwrap(), nl.owned_bridges().await.unwrap())
    });
    assert_eq!(vxlans, vec![("vx-a".to_string(), "neta".to_string())]);
    assert_eq!(bridges, vec![("br-a".to_string(), "neta".to_string())]);

    // Someone else's device under that name is not ours to delete.
    sb.sh("ip -n h1 link del vx-a && ip -n h1 link add vx-a type veth peer name vx-a-peer").ok();
    let err = ensure(4096, 1450).unwrap_err().to_string();
    assert!(err.contains("another kind (veth)"), "{err}");
    assert_eq!(link(&sb, H1, "vx-a")["linkinfo"]["info_kind"], "veth");
    // No bridge: nothing is left half made.
    sb.sh("ip -n h1 link del vx-a && ip -n h1 link del br-a").ok();
    let err = ensure(4096, 1450).unwrap_err().to_string();
    assert!(err.contains("the bridge br-a does not exist"), "{err}");
    sb.sh("! ip -n h1 link show vx-a").ok();
}

#[test]
fn the_overlay_mtu_follows_the_underlay_device() {
    let sb = Sandbox::new();
    two_hosts(&sb);
    let mtu = |ip: &'static str| -> Result<u32, KernelError> {
        on_host(&sb, H1, move |nl| async move { nl.mtu_for_underlay(ip.parse().unwrap()).await })
    };
    assert_eq!(mtu("192.168.77.1").unwrap(), 1450);
    sb.sh("ip -n h1 link set u1 mtu 9000 && ip -n h1 addr add fd77::1/64 dev u1 nodad").ok();
    assert_eq!(mtu("192.168.77.1").unwrap(), 8950);
    assert_eq!(mtu("fd77::1").unwrap(), 8930, "70 bytes over IPv6");
    let err = mtu("192.0.2.1").unwrap_err().to_string();
    assert!(err.contains("no device has the address 192.0.2.1"), "{err}");
}

#[test]
fn an_ipv6_underlay_carries_the_overlay_too() {
    let sb = Sandbox::new();
    two_hosts(&sb);
    sb.sh("ip -n h1 addr add fd77::1/64 dev u1 nodad && ip -n h2 addr add fd77::2/64 dev u2 nodad").ok();
    let h1 = Host { ns: "h1", underlay: "fd77::1" };
    let h2 = Host { ns: "h2", underlay: "fd77::2" };
    let mtu = make_network(&sb, h1, A);
    assert_eq!(mtu, 1430);
    assert_eq!(make_network(&sb, h2, A), 1430);
    let vx = link(&sb, h1, "vx-a");
    assert_eq!(vx["linkinfo"]["info_data"]["local6"], "fd77::1", "{vx}");
    assert_eq!(vx["mtu"], 1430, "{vx}");
    // Read back as it was made: a restarted daemon leaves it alone.
    let repair = on_host(&sb, h1, move |nl| async move {
        nl.ensure_vxlan(&VxlanSpec {
            name: "vx-a",
            vni: A.vni,
            local: h1.ip(),
            port: 4789,
            mtu: 1430,
            bridge: "br-a",
            network_id: "neta",
        })
        .await
    })
    .expect("ensure_vxlan");
    assert!(repair.is_noop(), "{repair:?}");
    let c1 = ctr("c1", h1, A, 2, "10.200.0.2", "fd00:200::2");
    let c2 = ctr("c2", h2, A, 3, "10.200.0.3", "fd00:200::3");
    container(&sb, c1, mtu);
    container(&sb, c2, mtu);
    add_remote(&sb, h1, c2);
    add_remote(&sb, h2, c1);
    ping(&sb, c1, c2.ip4).ok();
    ping(&sb, c2, c1.ip6).ok();
    sb.sh(&format!("ip netns exec c1 ping -c 1 -W 1 -M do -s {} {}", mtu - 28, c2.ip4)).ok();
    let entries = fdb(&sb, h1, "vx-a");
    assert!(
        entries.iter().any(|e| e["mac"] == c2.mac_str().as_str() && e["dst"] == "fd77::2"),
        "{entries:?}"
    );
    assert_eq!(remote_endpoints(&sb, h1, "vx-a"), vec![(c2.mac, h2.ip())]);
    remove_remote(&sb, h1, c2);
    assert!(remote_endpoints(&sb, h1, "vx-a").is_empty());
    ping(&sb, c1, c2.ip4).fail();
}
