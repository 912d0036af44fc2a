//! The control plane against a real etcd (Debian's etcd-server), each test in a
//! network namespace of its own so that its etcd listens on a loopback nobody
//! else sees. Needs root and `etcd` in PATH.

use std::collections::HashSet;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netctl_cluster::{ClaimOutcome, ClusterOptions, EndpointRecord, Session, WatchEvent};
use netctl_model::api::NetworkCreateRequest;
use netctl_model::network::NetworkSpec;
use netctl_model::Network;

struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `test` on a thread moved into a new network namespace (loopback up),
/// with an etcd started there.
fn with_etcd<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    with_etcd_args(&[], "http", test)
}

fn with_etcd_args<F, Fut>(args: &'static [&'static str], scheme: &'static str, test: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        // SAFETY: unshare(2) of this thread's network namespace only; no memory involved.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare (needs root)");
        assert!(Command::new("ip").args(["link", "set", "lo", "up"]).status().unwrap().success());
        let etcd = start_etcd(args, scheme);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(test(etcd.url.clone()));
        drop(etcd);
    })
    .join()
    .expect("test thread");
}

#[allow(clippy::zombie_processes)] // waited for in Etcd's Drop
fn start_etcd(args: &[&str], scheme: &str) -> Etcd {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{scheme}://127.0.0.1:2379");
    let child = Command::new("etcd")
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", "http://127.0.0.1:2380", "--log-level", "error"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd (apt install etcd-server)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url, "endpoint", "health"])
            .args(if scheme == "https" {
                vec![
                    format!("--cacert={TLS_DIR}/ca.pem"),
                    format!("--cert={TLS_DIR}/client.pem"),
                    format!("--key={TLS_DIR}/client-key.pem"),
                ]
            } else {
                vec![]
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Etcd { child, _dir: dir, url };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("etcd did not come up");
}

fn options(url: &str, ttl: u64) -> ClusterOptions {
    ClusterOptions { endpoints: vec![url.into()], ttl, request_timeout: Duration::from_secs(2), tls: None }
}

async fn live(url: &str, ttl: u64) -> Arc<Session> {
    let s = Session::start(options(url, ttl), None).await.unwrap();
    let mut st = s.subscribe();
    tokio::time::timeout(Duration::from_secs(10), st.wait_for(|s| s.connected)).await.unwrap().unwrap();
    s
}

fn overlay(
    name: &str,
    subnet: &str,
) -> impl FnMut(&[netctl_cluster::NetworkRecord], u32) -> netctl_cluster::Result<Network> {
    let (name, subnet) = (name.to_string(), subnet.to_string());
    move |existing, _vni| {
        if existing.iter().any(|n| n.network.name == name) {
            return Err(netctl_cluster::ClusterError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".into()),
            ipam: Some(netctl_model::api::IpamRequest {
                driver: None,
                options: Default::default(),
                config: vec![netctl_model::api::IpamConfigRequest {
                    subnet: Some(subnet.clone()),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        Ok(NetworkSpec::from_request(&req).unwrap().into_network(
            netctl_model::id::new_id(),
            chrono::Utc::now(),
            1450,
        ))
    }
}

fn endpoint(name: &str, ip: &str) -> EndpointRecord {
    EndpointRecord {
        container_id: format!("{name}-id"),
        container_name: name.into(),
        short_id: "0123456789ab".into(),
        hostname: name.into(),
        aliases: vec![],
        ipv4: Some(ip.parse().unwrap()),
        ipv6: None,
        mac: "02:42:0a:c8:00:02".into(),
        underlay: "192.168.77.1".parse().unwrap(),
    }
}

#[test]
fn one_name_one_network_even_when_hosts_create_it_at_once() {
    with_etcd(|url| async move {
        let hosts = [live(&url, 10).await, live(&url, 10).await, live(&url, 10).await];
        let results =
            futures_join(hosts.iter().map(|h| h.create_network(overlay("mesh", "10.200.0.0/16")))).await;
        let won: Vec<&Network> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        let snap = hosts[2].snapshot().await.unwrap();
        assert_eq!(snap.networks.len(), 1);
        let second = hosts[0].create_network(overlay("other", "10.201.0.0/16")).await.unwrap();
        assert_ne!(second.vni, won[0].vni, "each network its own VNI");
    });
}

async fn futures_join<T>(futs: impl Iterator<Item = impl std::future::Future<Output = T>>) -> Vec<T> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::new();
    // All polled concurrently on this runtime.
    let joined = futures::future::join_all(handles).await;
    out.extend(joined);
    out
}

#[test]
fn concurrent_claims_never_share_an_address() {
    with_etcd(|url| async move {
        let hosts = [live(&url, 10).await, live(&url, 10).await, live(&url, 10).await];
        let net = hosts[0].create_network(overlay("mesh", "10.200.0.0/24")).await.unwrap();
        let claim = |host: Arc<Session>, h: usize, i: usize, net_id: String| async move {
            // Every host starts from the lowest address, as a fresh host would.
            let mut candidate = 2u8;
            loop {
                let ip = format!("10.200.0.{candidate}");
                let ep = format!("ep{h}-{i}");
                match host
                    .claim_endpoint(&format!("host{h}"), &ep, &net_id, &endpoint(&ep, &ip))
                    .await
                    .unwrap()
                {
                    ClaimOutcome::Claimed => return ip,
                    ClaimOutcome::Taken(_) => candidate += 1,
                }
            }
        };
        let mut all = Vec::new();
        for i in 0..34 {
            for (h, host) in hosts.iter().enumerate() {
                all.push(claim(host.clone(), h, i, net.id.clone()));
            }
        }
        let ips = futures::future::join_all(all).await;
        let distinct: HashSet<&String> = ips.iter().collect();
        assert_eq!(distinct.len(), ips.len(), "{ips:?}");
        assert_eq!(hosts[1].used_addresses(&net.id).await.unwrap().len(), 102);
    });
}

#[test]
fn a_dead_hosts_endpoints_vanish_within_the_ttl_and_watchers_see_it() {
    with_etcd(|url| async move {
        let a = live(&url, 2).await;
        let b = live(&url, 10).await;
        let net = a.create_network(overlay("mesh", "10.200.0.0/24")).await.unwrap();
        let snap = b.snapshot().await.unwrap();
        let mut watch = b.watch(snap.revision).await.unwrap();
        assert_eq!(
            a.claim_endpoint("ha", "e1", &net.id, &endpoint("redis", "10.200.0.2")).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let evs = watch.next().await.unwrap();
        assert!(
            matches!(&evs[0], WatchEvent::EndpointPut(p) if p.record.container_name == "redis"),
            "{evs:?}"
        );
        a.stop();
        let died = Instant::now();
        let evs = tokio::time::timeout(Duration::from_secs(6), watch.next()).await.unwrap().unwrap();
        assert!(
            matches!(&evs[0], WatchEvent::EndpointDeleted { endpoint_id, .. } if endpoint_id == "e1"),
            "{evs:?}"
        );
        assert!(died.elapsed() < Duration::from_secs(4), "gone after {:?}", died.elapsed());
        assert!(b.used_addresses(&net.id).await.unwrap().is_empty(), "its address is free again");
    });
}

#[test]
fn a_restarted_host_resumes_its_lease_and_keeps_its_keys() {
    with_etcd(|url| async move {
        let a = live(&url, 5).await;
        let net = a.create_network(overlay("mesh", "10.200.0.0/24")).await.unwrap();
        a.claim_endpoint("ha", "e1", &net.id, &endpoint("redis", "10.200.0.2")).await.unwrap();
        let lease = a.status().lease.unwrap();
        a.stop();
        let again = Session::start(options(&url, 5), Some(lease)).await.unwrap();
        let mut st = again.subscribe();
        let st = tokio::time::timeout(Duration::from_secs(5), st.wait_for(|s| s.connected))
            .await
            .unwrap()
            .unwrap()
            .clone();
        assert_eq!(st.lease, Some(lease));
        assert!(!st.fresh_lease);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(again.own_endpoints(&net.id, "ha").await.unwrap().len(), 1, "kept alive past the TTL");
    });
}

#[test]
fn a_network_with_endpoints_is_not_removed_and_a_free_one_is() {
    with_etcd(|url| async move {
        let a = live(&url, 10).await;
        let b = live(&url, 10).await;
        let net = a.create_network(overlay("mesh", "10.200.0.0/24")).await.unwrap();
        b.claim_endpoint("hb", "e1", &net.id, &endpoint("redis", "10.200.0.2")).await.unwrap();
        let err = a.remove_network(&net.id).await.unwrap_err().to_string();
        assert!(err.contains("active endpoints") && err.contains("redis"), "{err}");
        // Not left marked as being removed: connects still work.
        b.snapshot().await.unwrap();
        let ok = b.claim_endpoint("hb", "e2", &net.id, &endpoint("web", "10.200.0.3")).await.unwrap();
        assert_eq!(ok, ClaimOutcome::Claimed);
        let ips: Vec<IpAddr> = vec!["10.200.0.2".parse().unwrap()];
        b.release_endpoint("hb", "e1", &net.id, &ips).await.unwrap();
        b.release_endpoint("hb", "e2", &net.id, &["10.200.0.3".parse().unwrap()]).await.unwrap();
        a.remove_network(&net.id).await.unwrap();
        assert!(b.snapshot().await.unwrap().networks.is_empty());
        let err = b.claim_endpoint("hb", "e3", &net.id, &endpoint("x", "10.200.0.4")).await.unwrap_err();
        assert!(err.to_string().contains("no longer exists"), "{err}");
    });
}

#[test]
fn a_lease_etcd_no_longer_has_is_replaced_by_a_new_one() {
    with_etcd(|url| async move {
        let s = Session::start(options(&url, 5), Some(0x1234_5678)).await.unwrap();
        let mut st = s.subscribe();
        let st = tokio::time::timeout(Duration::from_secs(5), st.wait_for(|s| s.connected))
            .await
            .unwrap()
            .unwrap()
            .clone();
        assert!(st.fresh_lease && st.lease != Some(0x1234_5678), "{st:?}");
    });
}

const TLS_DIR: &str = "/tmp/netctl-cluster-test-tls";

/// A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl.
fn make_certs() {
    let script = format!(
        "set -e; rm -rf {TLS_DIR}; mkdir -p {TLS_DIR}; cd {TLS_DIR}
         openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
         printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth' > server.ext
         openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server-key.pem -out server.csr 2>/dev/null
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile server.ext -out server.pem 2>/dev/null
         printf 'extendedKeyUsage=clientAuth' > client.ext
         openssl req -newkey rsa:2048 -nodes -subj /CN=netctl-host -keyout client-key.pem -out client.csr 2>/dev/null
         openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile client.ext -out client.pem 2>/dev/null"
    );
    assert!(Command::new("sh").args(["-c", &script]).status().unwrap().success(), "openssl");
}

#[test]
fn etcd_over_tls_with_client_certificates() {
    make_certs();
    const ARGS: &[&str] = &[
        "--cert-file=/tmp/netctl-cluster-test-tls/server.pem",
        "--key-file=/tmp/netctl-cluster-test-tls/server-key.pem",
        "--trusted-ca-file=/tmp/netctl-cluster-test-tls/ca.pem",
        "--client-cert-auth",
    ];
    with_etcd_args(ARGS, "https", |url| async move {
        let tls = |cert: bool| netctl_cluster::TlsFiles {
            ca: format!("{TLS_DIR}/ca.pem").into(),
            cert: cert.then(|| format!("{TLS_DIR}/client.pem").into()),
            key: cert.then(|| format!("{TLS_DIR}/client-key.pem").into()),
        };
        let with = |t| ClusterOptions { tls: Some(t), ..options(&url, 5) };
        let s = Session::start(with(tls(true)), None).await.unwrap();
        let mut st = s.subscribe();
        tokio::time::timeout(Duration::from_secs(10), st.wait_for(|s| s.connected)).await.unwrap().unwrap();
        s.create_network(overlay("mesh", "10.200.0.0/24")).await.unwrap();
        // Without a client certificate etcd refuses the connection.
        let anon = Session::start(with(tls(false)), None).await.unwrap();
        assert!(anon.snapshot().await.is_err());
    });
}
