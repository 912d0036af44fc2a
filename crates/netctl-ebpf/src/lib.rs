//! The resolver's kernel fast path: a tc program (bpf/resolver.bpf.c, built by
//! build.rs with clang) on clsact egress of each container namespace's `lo`
//! answers known names in the asker's own `sendto()`, from maps the daemon fills
//! with the same zone the userspace resolver answers from (`Mirror`). Loaded and
//! attached with aya (pure Rust; see docs/decisions.md). Whatever the program
//! does not answer reaches the userspace listener untouched.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::tc::{self, NlOptions, SchedClassifier, TcAttachOptions, TcAttachType};
use aya::{Ebpf, EbpfLoader};
use netctl_dns::zone::kernel::{KernelKey, KernelView, Touched, KERNEL_MAX_SLOTS};
use netctl_dns::Zone;

pub use netctl_dns::zone::kernel;

/// The object with its maps pinned by name (the daemon's).
static PINNED_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/resolver.bpf.o"));
/// The same program with unpinned maps (tests).
static UNPINNED_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/resolver-nopin.bpf.o"));

pub const PROGRAM: &str = "netctl_dns";
/// Where the daemon pins: a layout version in the path, so a daemon whose maps
/// differ never adopts another's.
pub const PIN_DIR: &str = "/sys/fs/bpf/netctl/v1";
const MAX_ADDRS: usize = 8;
const MAX_NAME: usize = 64;
const VIEW_PASS: u32 = 1;
/// tc priority of our filter on `lo` egress.
const PRIORITY: u16 = 0x4e54;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("load the resolver's BPF program: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("BPF program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    #[error("BPF map: {0}")]
    Map(#[from] aya::maps::MapError),
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct NameKey {
    slot: u32,
    qtype: u16,
    len: u8,
    pad: u8,
    name: [u8; MAX_NAME],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NameVal {
    count: u32,
    addrs: [[u8; 16]; MAX_ADDRS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ViewVal {
    flags: u32,
    udp_port: u16,
    nslots: u16,
    slots: [u32; KERNEL_MAX_SLOTS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ConfigVal {
    ttl: u32,
    pad: u32,
}

// SAFETY: plain C structs of integers and byte arrays, no padding bytes left
// uninitialised (every field is written) and any bit pattern is valid.
unsafe impl aya::Pod for NameKey {}
// SAFETY: as above.
unsafe impl aya::Pod for NameVal {}
// SAFETY: as above.
unsafe impl aya::Pod for ViewVal {}
// SAFETY: as above.
unsafe impl aya::Pod for ConfigVal {}

fn name_key(k: &KernelKey) -> NameKey {
    let mut name = [0u8; MAX_NAME];
    name[..k.name.len()].copy_from_slice(&k.name);
    NameKey { slot: k.slot, qtype: if k.v6 { 28 } else { 1 }, len: k.name.len() as u8, pad: 0, name }
}

fn kernel_key(k: &NameKey) -> KernelKey {
    KernelKey { slot: k.slot, v6: k.qtype == 28, name: k.name[..(k.len as usize).min(MAX_NAME)].to_vec() }
}

fn name_val(addrs: &[IpAddr]) -> NameVal {
    let mut v = NameVal { count: addrs.len() as u32, addrs: [[0; 16]; MAX_ADDRS] };
    for (slot, ip) in v.addrs.iter_mut().zip(addrs) {
        match ip {
            IpAddr::V4(a) => slot[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => *slot = a.octets(),
        }
    }
    v
}

fn view_val(view: &KernelView, udp_port: u16) -> ViewVal {
    let mut slots = [0u32; KERNEL_MAX_SLOTS];
    for (s, v) in slots.iter_mut().zip(&view.slots) {
        *s = *v;
    }
    let pass = view.pass || view.slots.len() > KERNEL_MAX_SLOTS;
    ViewVal {
        flags: if pass { VIEW_PASS } else { 0 },
        udp_port,
        nslots: view.slots.len().min(KERNEL_MAX_SLOTS) as u16,
        slots,
    }
}

/// The loaded program and its maps.
pub struct KernelResolver {
    bpf: Ebpf,
    pin_dir: Option<PathBuf>,
}

/// Sizes of the loaded program, for docs/decisions.md and `netctl info`.
#[derive(Debug, Clone, Copy)]
pub struct ProgramSize {
    /// Instructions after the kernel's rewrite (xlated).
    pub instructions: u32,
    /// Instructions the verifier walked to accept it.
    pub verified: Option<u32>,
    pub jited_bytes: u32,
}

/// Mounts a bpffs at /sys/fs/bpf unless one is there.
pub fn ensure_bpffs() -> io::Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    if mounts.lines().any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf")) {
        return Ok(());
    }
    let (src, dst, fstype) = (c"bpf", c"/sys/fs/bpf", c"bpf");
    // SAFETY: constant NUL-terminated strings, no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl KernelResolver {
    /// Loads the program. With `pin_dir`, its maps are pinned there, and maps
    /// already pinned there (a daemon before this one) are taken as they are:
    /// names keep answering from them until `Mirror` rewrites them. Without, the
    /// maps are private to this object (tests).
    pub fn load(pin_dir: Option<&Path>, ttl: u32) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        let object = match pin_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Io(format!("create {}", dir.display()), e))?;
                loader.map_pin_path(dir);
                PINNED_OBJECT
            }
            None => UNPINNED_OBJECT,
        };
        let mut bpf = loader.load(object)?;
        let prog: &mut SchedClassifier = program(&mut bpf)?;
        prog.load()?;
        if let Some(dir) = pin_dir {
            // For bpftool (`bpftool prog show pinned DIR/netctl_dns`); the filters
            // on each lo hold the program themselves.
            let path = dir.join(PROGRAM);
            let _ = std::fs::remove_file(&path);
            prog.pin(&path).map_err(|e| Error::Io(format!("pin {}", path.display()), io::Error::other(e)))?;
        }
        let mut k = Self { bpf, pin_dir: pin_dir.map(Path::to_path_buf) };
        k.set_ttl(ttl)?;
        Ok(k)
    }

    pub fn pin_dir(&self) -> Option<&Path> {
        self.pin_dir.as_deref()
    }

    pub fn set_ttl(&mut self, ttl: u32) -> Result<()> {
        let mut config: Array<&mut MapData, ConfigVal> = Array::try_from(self.map("netctl_config"))?;
        config.set(0, ConfigVal { ttl, pad: 0 }, 0)?;
        Ok(())
    }

    fn map(&mut self, name: &str) -> &mut aya::maps::Map {
        self.bpf.map_mut(name).expect("the object defines it")
    }

    /// Attaches the program to clsact egress of `lo` in the calling thread's
    /// network namespace, replacing a filter of ours already there (a daemon
    /// before this one, or an older program). The filter stays when this
    /// process ends: it belongs to the namespace.
    pub fn attach_lo(&mut self) -> Result<()> {
        attach(program(&mut self.bpf)?)
    }

    pub fn set_view(&mut self, cookie: u64, udp_port: u16, view: &KernelView) -> Result<()> {
        let mut views: BpfHashMap<&mut MapData, u64, ViewVal> =
            BpfHashMap::try_from(self.map("netctl_views"))?;
        views.insert(cookie, view_val(view, udp_port), 0)?;
        Ok(())
    }

    pub fn remove_view(&mut self, cookie: u64) -> Result<()> {
        let mut views: BpfHashMap<&mut MapData, u64, ViewVal> =
            BpfHashMap::try_from(self.map("netctl_views"))?;
        match views.remove(&cookie) {
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            other => Ok(other?),
        }
    }

    pub fn view_cookies(&mut self) -> Result<Vec<u64>> {
        let views: BpfHashMap<&mut MapData, u64, ViewVal> = BpfHashMap::try_from(self.map("netctl_views"))?;
        Ok(views.keys().collect::<std::result::Result<_, _>>()?)
    }

    pub fn set_name(&mut self, key: &KernelKey, addrs: &[IpAddr]) -> Result<()> {
        let mut names: BpfHashMap<&mut MapData, NameKey, NameVal> =
            BpfHashMap::try_from(self.map("netctl_names"))?;
        names.insert(name_key(key), name_val(addrs), 0)?;
        Ok(())
    }

    pub fn remove_name(&mut self, key: &KernelKey) -> Result<()> {
        let mut names: BpfHashMap<&mut MapData, NameKey, NameVal> =
            BpfHashMap::try_from(self.map("netctl_names"))?;
        match names.remove(&name_key(key)) {
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            other => Ok(other?),
        }
    }

    /// What the names map holds now.
    pub fn names(&mut self) -> Result<HashMap<KernelKey, Vec<IpAddr>>> {
        let names: BpfHashMap<&mut MapData, NameKey, NameVal> =
            BpfHashMap::try_from(self.map("netctl_names"))?;
        let mut out = HashMap::new();
        for entry in names.iter() {
            let (k, v) = entry?;
            let key = kernel_key(&k);
            let addrs = v.addrs[..(v.count as usize).min(MAX_ADDRS)]
                .iter()
                .map(|a| if key.v6 { IpAddr::from(*a) } else { IpAddr::from([a[0], a[1], a[2], a[3]]) })
                .collect();
            out.insert(key, addrs);
        }
        Ok(out)
    }

    /// Questions answered here, and questions to 127.0.0.11 left to userspace,
    /// summed over CPUs, since the maps were made.
    pub fn counters(&mut self) -> Result<(u64, u64)> {
        let stats: PerCpuArray<&mut MapData, u64> = PerCpuArray::try_from(self.map("netctl_stats"))?;
        let sum = |i| stats.get(&i, 0).map(|v| v.iter().sum::<u64>());
        Ok((sum(0)?, sum(1)?))
    }

    pub fn size(&self) -> Result<ProgramSize> {
        let prog: &SchedClassifier = self.bpf.program(PROGRAM).expect("the object defines it").try_into()?;
        let info = prog.info()?;
        Ok(ProgramSize {
            instructions: info.size_translated().unwrap_or(0) / 8,
            verified: info.verified_instruction_count(),
            jited_bytes: info.size_jitted(),
        })
    }

    /// Runs the program once on `packet` (an Ethernet frame as `lo` carries
    /// it) with BPF_PROG_TEST_RUN, in the calling thread's network namespace
    /// (whose cookie the program sees). Returns its verdict and the packet as
    /// it left.
    pub fn test_run(&self, packet: &[u8]) -> io::Result<(u32, Vec<u8>)> {
        let mut out = vec![0u8; 2048];
        let (retval, len, _) = self.test_run_raw(packet, &mut out, 1)?;
        out.truncate(len);
        Ok((retval, out))
    }

    /// `repeat` runs of `packet`; the kernel's mean time per run in ns.
    pub fn time_run(&self, packet: &[u8], repeat: u32) -> io::Result<u32> {
        let mut out = vec![0u8; 2048];
        Ok(self.test_run_raw(packet, &mut out, repeat)?.2)
    }

    fn test_run_raw(&self, packet: &[u8], out: &mut [u8], repeat: u32) -> io::Result<(u32, usize, u32)> {
        let prog: &SchedClassifier = self
            .bpf
            .program(PROGRAM)
            .expect("the object defines it")
            .try_into()
            .map_err(|e| io::Error::other(format!("{e}")))?;
        let fd = prog.fd().map_err(|e| io::Error::other(format!("{e}")))?;
        let fd = fd.as_fd().as_raw_fd();
        // union bpf_attr's `test` member (linux/bpf.h), zero-padded.
        #[repr(C)]
        #[derive(Default)]
        struct TestAttr {
            prog_fd: u32,
            retval: u32,
            data_size_in: u32,
            data_size_out: u32,
            data_in: u64,
            data_out: u64,
            repeat: u32,
            duration: u32,
            ctx_size_in: u32,
            ctx_size_out: u32,
            ctx_in: u64,
            ctx_out: u64,
            flags: u32,
            cpu: u32,
            batch_size: u32,
            pad: u32,
        }
        let mut attr = TestAttr {
            prog_fd: fd as u32,
            data_size_in: packet.len() as u32,
            data_size_out: out.len() as u32,
            data_in: packet.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat,
            ..Default::default()
        };
        const BPF_PROG_TEST_RUN: libc::c_long = 10;
        // SAFETY: attr is a valid `test` member of union bpf_attr with its size;
        // data_in/data_out point at buffers of the sizes given, alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_TEST_RUN,
                &mut attr as *mut TestAttr,
                std::mem::size_of::<TestAttr>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((attr.retval, attr.data_size_out as usize, attr.duration))
    }
}

/// `KernelResolver::attach_lo` with the program pinned in `pin_dir` by a
/// daemon's `load`: needs no handle of the loader's, so namespaces are attached
/// in parallel, each on the thread that prepares its listener.
pub fn attach_lo_pinned(pin_dir: &Path) -> Result<()> {
    let mut prog = SchedClassifier::from_pin(pin_dir.join(PROGRAM))?;
    attach(&mut prog)
}

/// Attaches `prog` to clsact egress of `lo` in the calling thread's network
/// namespace, replacing a filter of ours already there (a daemon before this
/// one, or an older program). The filter stays when this process ends: it
/// belongs to the namespace.
fn attach(prog: &mut SchedClassifier) -> Result<()> {
    // A qdisc made now has no filter yet: only an existing one is searched for
    // ours (one netlink dump fewer for every new container).
    let fresh = match tc::qdisc_add_clsact("lo") {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => false,
        Err(e) => return Err(Error::Io("add the clsact qdisc to lo".into(), e)),
    };
    if !fresh {
        match tc::qdisc_detach_program("lo", TcAttachType::Egress, PROGRAM) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io("remove the old filter on lo".into(), e)),
        }
    }
    let options = TcAttachOptions::Netlink(NlOptions { priority: PRIORITY, handle: 1 });
    let id = prog.attach_with_options("lo", TcAttachType::Egress, options)?;
    // A link dropped is detached: this one must outlive the daemon.
    std::mem::forget(prog.take_link(id)?);
    Ok(())
}

fn program(bpf: &mut Ebpf) -> Result<&mut SchedClassifier> {
    Ok(bpf.program_mut(PROGRAM).expect("the object defines it").try_into()?)
}

/// The cookie of the network namespace `socket` was made in: what
/// `bpf_get_netns_cookie` says to the program for packets of that namespace.
pub fn netns_cookie(socket: &impl AsFd) -> io::Result<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// Keeps the kernel's maps equal to what the zone says: the names map to
/// `Zone::kernel_names`, and one view per container whose namespace registered
/// (its netns cookie and listener port). Called with every zone under the
/// resolver's lock (`Resolver::set_observer`), so the kernel answers a name
/// exactly while the userspace resolver does.
pub struct Mirror {
    kernel: KernelResolver,
    /// What the names map holds.
    names: HashMap<KernelKey, Vec<IpAddr>>,
    /// Container id → (netns cookie, UDP listener port).
    containers: HashMap<String, (u64, u16)>,
    /// What the views map holds.
    views: HashMap<u64, ViewVal>,
    /// Map writes that failed (logged once each run of failures).
    pub errors: u64,
}

impl Mirror {
    /// Takes over the maps as they are: every name found there is rewritten or
    /// removed by the first `sync`, and every view is removed now (views of the
    /// last daemon may point at another numbering of networks; until each
    /// container registers again, userspace answers it).
    pub fn adopt(mut kernel: KernelResolver) -> Result<Self> {
        let names = kernel.names()?.into_keys().map(|k| (k, Vec::new())).collect();
        for cookie in kernel.view_cookies()? {
            kernel.remove_view(cookie)?;
        }
        Ok(Self { kernel, names, containers: HashMap::new(), views: HashMap::new(), errors: 0 })
    }

    pub fn kernel(&mut self) -> &mut KernelResolver {
        &mut self.kernel
    }

    fn note(&mut self, r: Result<()>) {
        if let Err(e) = r {
            if self.errors == 0 {
                tracing::warn!(error = %e, "cannot write the kernel resolver's maps");
            }
            self.errors += 1;
        }
    }

    /// Makes the maps say what `zone` says, looking only at what changed since
    /// the last call (`Zone::take_kernel_touched`): a connect costs its own names,
    /// not the zone's. For `Resolver::set_observer`.
    pub fn observe(&mut self, zone: &mut Zone) {
        match zone.take_kernel_touched() {
            None => self.sync(zone),
            Some(touched) => self.apply(zone, touched),
        }
    }

    fn apply(&mut self, zone: &Zone, touched: Touched) {
        let mut names = touched.names;
        names.sort();
        names.dedup();
        for name in names {
            let wanted = zone.kernel_entries_of(&name);
            let gone: Vec<KernelKey> = self
                .names
                .keys()
                .filter(|k| k.name == name && !wanted.iter().any(|(w, _)| w == *k))
                .cloned()
                .collect();
            self.write_names(gone, wanted);
        }
        let mut containers = touched.containers;
        containers.sort();
        containers.dedup();
        for id in containers {
            self.sync_view(zone, &id);
        }
    }

    fn write_names(
        &mut self,
        gone: Vec<KernelKey>,
        wanted: impl IntoIterator<Item = (KernelKey, Vec<IpAddr>)>,
    ) {
        for k in gone {
            let r = self.kernel.remove_name(&k);
            self.note(r);
            self.names.remove(&k);
        }
        for (k, addrs) in wanted {
            if self.names.get(&k) != Some(&addrs) {
                let r = self.kernel.set_name(&k, &addrs);
                self.note(r);
                self.names.insert(k, addrs);
            }
        }
    }

    /// Makes the maps say what `zone` says, all of it.
    pub fn sync(&mut self, zone: &Zone) {
        let wanted = zone.kernel_names();
        let gone: Vec<KernelKey> = self.names.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        self.sync_views(zone);
        self.write_names(gone, wanted);
    }

    fn sync_views(&mut self, zone: &Zone) {
        let ids: Vec<String> = self.containers.keys().cloned().collect();
        for id in ids {
            self.sync_view(zone, &id);
        }
    }

    fn sync_view(&mut self, zone: &Zone, id: &str) {
        let Some(&(cookie, port)) = self.containers.get(id) else { return };
        match zone.kernel_view(id) {
            Some(view) => {
                let v = view_val(&view, port);
                if self.views.get(&cookie) != Some(&v) {
                    let r = self.kernel.set_view(cookie, port, &view);
                    self.note(r);
                    self.views.insert(cookie, v);
                }
            }
            None => {
                if self.views.remove(&cookie).is_some() {
                    let r = self.kernel.remove_view(cookie);
                    self.note(r);
                }
            }
        }
    }

    /// The container's namespace (cookie) and listener port; its view is
    /// written now from `zone`.
    pub fn register(&mut self, container_id: &str, cookie: u64, udp_port: u16, zone: &Zone) {
        if let Some((old, _)) = self.containers.insert(container_id.to_string(), (cookie, udp_port)) {
            if old != cookie && self.views.remove(&old).is_some() {
                let r = self.kernel.remove_view(old);
                self.note(r);
            }
        }
        self.sync_view(zone, container_id);
    }

    /// The container's listener is gone: the kernel answers nothing more there.
    pub fn unregister(&mut self, container_id: &str) {
        if let Some((cookie, _)) = self.containers.remove(container_id) {
            if self.views.remove(&cookie).is_some() {
                let r = self.kernel.remove_view(cookie);
                self.note(r);
            }
        }
    }

    /// Containers registered.
    pub fn registered(&self) -> usize {
        self.containers.len()
    }
}
