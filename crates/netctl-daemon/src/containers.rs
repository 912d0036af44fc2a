//! Container lifecycle: create (namespace, endpoints, files), start, stop, exit,
//! remove (attaching another runtime's namespace is in attach.rs). Kernel work is undone when a
//! later step fails, so a failed `run` leaves nothing behind.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use netctl_kernel::netns;
use netctl_model::api_containers::ContainerCreateRequest;
use netctl_model::container::{
    container_env, parse_mac, validate_hostname, Container, DnsSettings, NetworkMode, Origin, ProcessConfig,
    RunState, Status,
};
use netctl_model::name::validate_container_name;
use netctl_model::network::DEFAULT_NETWORK;
use netctl_model::ports::{parse_expose, parse_publish, ContainerPort, PortBinding};
use netctl_model::{generated_name, id, ModelError, Network};

use crate::cgroups::CONTAINER_LEAF;
use crate::daemon::Daemon;
use crate::endpoints::JoinRequest;
use crate::error::{conflict, DaemonError, Result};
use crate::journal::{Direction, Intent};
use crate::port_proxy;
use crate::process;
use crate::registry::Registry;
use crate::sandbox_files::SandboxFiles;

impl Daemon {
    pub async fn create_container(&self, req: &ContainerCreateRequest) -> Result<Container> {
        if req.cmd.is_empty() {
            return Err(ModelError::invalid("no command given: netctl run [OPTIONS] -- CMD [ARGS...]").into());
        }
        let mut registry = self.registry.lock().await;
        let name = self.pick_container_name(&registry, req.name.as_deref())?;
        let (mode, network) = resolve_network_mode(&registry, req.network_mode.as_deref())?;
        let join = match &network {
            Some(net) => Some(JoinRequest {
                mac: req.mac_address.as_deref().map(parse_mac).transpose()?,
                ..JoinRequest::parse_dual(
                    &req.aliases,
                    req.ip_address.as_deref(),
                    req.ip6_address.as_deref(),
                    net,
                )?
            }),
            None if !req.aliases.is_empty() || req.ip_address.is_some() || req.ip6_address.is_some() => {
                return Err(ModelError::invalid("--network-alias and --ip need a network to apply to").into())
            }
            None => None,
        };
        let links = crate::links::resolve_links(&registry, &name, &mode, network.as_ref(), &req.links)?;
        let (exposed, mut ports) = parse_ports(req, &mode, network.as_ref())?;
        // Bound before anything is made: a port in use fails the run cleanly.
        let sockets = port_proxy::bind_all(&mut ports)
            .map_err(|e| conflict(format!("driver failed programming external connectivity: {e}")))?;
        let id = new_unique_id(&registry);
        let pin = (mode != NetworkMode::Host).then(|| PathBuf::from(netns::NETNS_RUN_DIR).join(&name));
        let hostname = match &req.hostname {
            Some(h) => {
                validate_hostname(h)?;
                h.clone()
            }
            None if mode == NetworkMode::Host => nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| id::short_id(&id).into()),
            None => id::short_id(&id).to_string(),
        };
        let mut c = Container {
            id: id.clone(),
            name,
            created: Utc::now(),
            hostname: hostname.clone(),
            origin: Origin::Netctl,
            network_mode: mode.clone(),
            process: ProcessConfig {
                cmd: req.cmd.clone(),
                // Link variables come before the user's, who may override them.
                env: container_env(&hostname, req.tty, &[links.env, req.env.clone()].concat()),
                user_env: req.env.clone(),
                workdir: req.working_dir.clone(),
                tty: req.tty,
                interactive: req.open_stdin,
                detach: req.detach,
                auto_remove: req.auto_remove,
            },
            state: RunState::created(),
            netns_path: pin,
            endpoints: Vec::new(),
            mac_address: req.mac_address.clone(),
            dns: DnsSettings::parse(&req.dns, &req.dns_search, &req.dns_options)?,
            exposed,
            ports,
            links: links.links,
            labels: req.labels.clone(),
            generation: 0,
        };
        if let Some(pin) = &c.netns_path {
            if pin.exists() {
                return Err(netns_taken(&c.name, pin));
            }
        }
        // Every name the change will make is in the record before it makes any.
        if let (Some(net), Some(join)) = (network.as_ref(), join) {
            let ep = self.plan_endpoint_claimed(&mut registry, &c, net, join).await?;
            c.endpoints.push(ep);
        }
        let intent = match self.journal.begin("create", Direction::Adds, None, Some(&mut c)) {
            Ok(i) => i,
            Err(e) => {
                self.settle(&mut registry, &c, None).await;
                return Err(e.into());
            }
        };
        let made = match self.make_container(&mut registry, &mut c, network.as_ref(), sockets).await {
            Ok(()) => self.commit(&intent, &c),
            Err(e) => Err(e),
        };
        match made {
            Ok(()) => {
                registry.update_container(c.clone());
                self.refresh_dns_for(&registry, &c.id);
                self.refresh_linkers(&registry, &c.id);
            }
            Err(e) => {
                self.undo(&mut registry, &intent, &c).await;
                return Err(e);
            }
        }
        tracing::info!(container = %c.name, id = %c.short_id(), detach = req.detach, "container created");
        self.events.container_created(&c, network.as_ref());
        Ok(c)
    }

    /// The kernel work of `create`, in the order of its intent: namespace,
    /// loopback, first endpoint, files, resolver, published ports, process.
    async fn make_container(
        &self,
        registry: &mut Registry,
        c: &mut Container,
        network: Option<&Network>,
        sockets: Vec<(port_proxy::BoundSocket, u16)>,
    ) -> Result<()> {
        crate::step!("create.netns");
        if let Some(pin) = c.netns_path.clone() {
            if let Err(e) = netns::create_pinned_netns(&c.name).await {
                if e.errno() == Some(libc::EEXIST) {
                    // Someone else's, made since the check: never ours to remove.
                    c.netns_path = None;
                    return Err(netns_taken(&c.name, &pin));
                }
                return Err(e.into());
            }
            crate::step!("create.loopback");
            let inside = self.netlink_in(c).await?;
            inside.loopback_up().await?;
            if let (Some(net), Some(ep)) = (network, c.endpoints.first().cloned()) {
                let early = self.start_listener_early(c, net);
                crate::step!("create.endpoint");
                if let Err(e) = self.make_endpoint(c, &inside, net, &ep).await {
                    Self::abandon_listener(early).await;
                    return Err(e);
                }
                registry.insert_container(c.clone());
                self.adopt_listener(c, early).await?;
            }
        }
        crate::step!("create.files");
        let files = SandboxFiles::new(&self.config.exec_root, &c.id);
        files
            .write_all(c, &self.resolv_conf_for(registry, c), &self.hosts_for(registry, c))
            .map_err(|e| DaemonError::Io(format!("write files of container {}", c.name), e))?;
        if registry.container(&c.id).is_none() {
            registry.insert_container(c.clone());
        }
        self.sync_listener(registry, c)?;
        crate::step!("create.listener");
        self.refresh_dns_for(registry, &c.id);
        crate::step!("create.publish");
        self.publish_ports(registry, c, sockets).await?;
        self.cgroups
            .create(&c.id)
            .map_err(|e| DaemonError::Io(format!("create the cgroup of container {}", c.name), e))?;
        if c.process.detach {
            crate::step!("create.spawn");
            self.spawn_detached(c).await?;
        }
        crate::step!("create.commit");
        Ok(())
    }

    /// Commits a journaled change: the record with the intent's generation, then
    /// the intent goes.
    pub(crate) fn commit(&self, intent: &Intent, c: &Container) -> Result<()> {
        debug_assert_eq!(c.generation, intent.generation);
        self.containers_store.save(&c.id, c)?;
        if let Err(e) = self.journal.end(intent) {
            // The record is committed; the next start drops the intent as done.
            tracing::warn!(container = %c.name, error = %e, "cannot remove a committed change's intent");
        }
        Ok(())
    }

    /// Rolls back a journaled change that failed: whatever `c` has beyond the
    /// intent's `before` goes. If that leaves something, the intent stays and the
    /// next start finishes the rollback.
    pub(crate) async fn undo(&self, registry: &mut Registry, intent: &Intent, c: &Container) {
        let keep = intent.settle(None);
        let errors = self.settle(registry, c, keep).await;
        if errors.0.is_empty() {
            if let Err(e) = self.journal.end(intent) {
                tracing::warn!(container = %c.name, error = %e, "cannot remove a rolled-back change's intent");
            }
        } else {
            tracing::error!(container = %c.name, op = %intent.op, errors = ?errors.0,
                "rollback left parts behind; the next start retries");
        }
    }

    pub(crate) fn pick_container_name(&self, registry: &Registry, wanted: Option<&str>) -> Result<String> {
        match wanted {
            Some(name) => {
                let name = name.trim_start_matches('/');
                validate_container_name(name)?;
                if let Some(other) = registry.container_by_name(name) {
                    return Err(conflict(format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                Ok(name.to_string())
            }
            None => Ok(std::iter::repeat_with(generated_name::generate)
                .find(|n| {
                    registry.container_by_name(n).is_none() && !PathBuf::from("/run/netns").join(n).exists()
                })
                .expect("unbounded")),
        }
    }

    /// `rm [-f]`: journaled as a removal, so once begun it is finished, by the
    /// next start if not now.
    pub async fn remove_container(&self, key: &str, force: bool) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let c = registry.find_container(key)?.clone();
        if c.is_running() && c.origin == Origin::Netctl && !force {
            return Err(conflict(format!(
                "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                c.id
            )));
        }
        self.remove_journaled(&mut registry, &c, "rm").await?;
        tracing::info!(container = %c.name, id = %c.short_id(), "container removed");
        Ok(())
    }

    /// Removes a container whole (rm, the monitor's auto-remove and vanished
    /// namespaces): intent, then the one teardown, then the intent goes.
    pub(crate) async fn remove_journaled(
        &self,
        registry: &mut Registry,
        c: &Container,
        op: &str,
    ) -> Result<()> {
        let intent = self.journal.begin(op, Direction::Removes, Some(c), None)?;
        crate::step!("rm.teardown");
        let errors = self.settle(registry, c, None).await;
        self.events.container_removed(c, registry);
        if errors.0.is_empty() {
            self.journal.end(&intent)?;
        }
        errors.into_result(&c.name)
    }

    /// The client started the main process itself (foreground `run`).
    pub async fn container_started(&self, key: &str, pid: u32) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let mut c = registry.find_container(key)?.clone();
        c.state = RunState {
            status: Status::Running,
            pid,
            pid_start: process::start_time(pid).unwrap_or(0),
            exit_code: 0,
            started_at: Some(Utc::now()),
            finished_at: None,
        };
        self.containers_store.save(&c.id, &c)?;
        self.events.container("start", &c, &[]);
        registry.update_container(c);
        Ok(())
    }

    /// The client saw its process exit (foreground `run`): what it left behind goes
    /// with it, as when a container's init ends.
    pub async fn container_exited(&self, key: &str, exit_code: i32) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let mut c = registry.find_container(key)?.clone();
        self.cgroups.kill(&c.id, Some(CONTAINER_LEAF), Duration::from_secs(5)).await;
        mark_exited(&mut c, exit_code);
        self.containers_store.save(&c.id, &c)?;
        self.events.container("die", &c, &[("exitCode", exit_code.to_string())]);
        let id = c.id.clone();
        registry.update_container(c);
        self.refresh_dns_for(&registry, &id);
        Ok(())
    }

    pub async fn start_container(&self, key: &str) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let before = registry.find_container(key)?.clone();
        if before.origin != Origin::Netctl {
            return Err(
                ModelError::invalid(format!("container {} was not started by netctl", before.name)).into()
            );
        }
        if before.is_running() {
            return Ok(());
        }
        if let Some(pin) = &before.netns_path {
            if !pin.exists() {
                return Err(conflict(format!(
                    "the network namespace of {} is gone (was the host rebooted?): remove the container and run it again",
                    before.name
                )));
            }
        }
        let mut c = before.clone();
        c.process.detach = true;
        let intent = self.journal.begin("start", Direction::Adds, Some(&before), Some(&mut c))?;
        let started = async {
            self.cgroups
                .create(&c.id)
                .map_err(|e| DaemonError::Io(format!("create the cgroup of container {}", c.name), e))?;
            crate::step!("start.spawn");
            self.spawn_detached(&mut c).await?;
            crate::step!("start.commit");
            self.commit(&intent, &c)
        }
        .await;
        if let Err(e) = started {
            self.undo(&mut registry, &intent, &c).await;
            return Err(e);
        }
        let id = c.id.clone();
        self.events.container("start", &c, &[]);
        registry.update_container(c);
        self.refresh_dns_for(&registry, &id);
        Ok(())
    }

    /// SIGTERM to the main process, then SIGKILL to every process of the
    /// container after `timeout`. Never for processes netctl did not start.
    pub async fn stop_container(&self, key: &str, timeout: Duration) -> Result<()> {
        let c = self.registry.lock().await.find_container(key)?.clone();
        if c.origin != Origin::Netctl {
            return Err(ModelError::invalid(format!(
                "container {} belongs to another runtime: netctl never stops processes it did not start",
                c.name
            ))
            .into());
        }
        if !c.is_running() || c.state.pid == 0 {
            return Ok(());
        }
        if !self.signal_main(&c, libc::SIGTERM, timeout).await {
            self.cgroups.kill(&c.id, Some(CONTAINER_LEAF), Duration::from_secs(5)).await;
            if !self.cgroups.available() {
                self.signal_main(&c, libc::SIGKILL, Duration::from_secs(5)).await;
            }
        }
        self.cgroups.kill(&c.id, Some(CONTAINER_LEAF), Duration::from_secs(5)).await;
        self.check_containers().await;
        self.events.container("stop", &c, &[]);
        Ok(())
    }

    /// Signals the container's main process if it is still that process (in the
    /// container's cgroup, or with its recorded start time); true once it is gone.
    async fn signal_main(&self, c: &Container, signal: i32, timeout: Duration) -> bool {
        let (pid, start) = (c.state.pid, c.state.pid_start);
        let ours = if self.cgroups.available() {
            self.cgroups.contains(&c.id, pid)
        } else {
            start != 0 && process::is_alive(pid, start)
        };
        if !ours {
            return true;
        }
        process::kill_and_wait(pid, start, signal, timeout).await
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.config.data_root.join("logs").join(format!("{id}.log"))
    }
}

pub(crate) fn mark_exited(c: &mut Container, exit_code: i32) {
    c.state.status = Status::Exited;
    c.state.pid = 0;
    c.state.pid_start = 0;
    c.state.exit_code = exit_code;
    c.state.finished_at = Some(Utc::now());
}

/// `--expose`, `-p` and `-P` of a new container: the exposed ports (a published
/// port is exposed too, as Docker has it) and the bindings to make.
fn parse_ports(
    req: &ContainerCreateRequest,
    mode: &NetworkMode,
    network: Option<&Network>,
) -> Result<(Vec<ContainerPort>, Vec<PortBinding>)> {
    let mut exposed = Vec::new();
    for e in &req.exposed_ports {
        exposed.extend(parse_expose(e)?);
    }
    let mut bindings = Vec::new();
    for p in &req.port_bindings {
        bindings.extend(parse_publish(p)?);
    }
    for b in &bindings {
        if !exposed.contains(&b.container) {
            exposed.push(b.container);
        }
    }
    if req.publish_all_ports {
        for p in &exposed {
            if !bindings.iter().any(|b| b.container == *p) {
                bindings.push(PortBinding { host_ip: None, host_port: 0, container: *p });
            }
        }
    }
    netctl_model::ports::check_published_count(&bindings)?;
    if !bindings.is_empty() {
        match (mode, network) {
            (NetworkMode::Networks, Some(net)) if net.internal => {
                return Err(ModelError::invalid(format!(
                    "network {} is internal: its containers cannot publish ports",
                    net.name
                ))
                .into())
            }
            (NetworkMode::Networks, Some(_)) => {}
            _ => {
                return Err(ModelError::invalid(
                    "publishing ports needs a network: with --net host the container's ports are the host's, with --net none there is nothing to reach",
                )
                .into())
            }
        }
    }
    Ok((exposed, bindings))
}

/// The pin's name is taken by a namespace that is not ours.
fn netns_taken(name: &str, pin: &std::path::Path) -> DaemonError {
    conflict(format!("a network namespace named {name} exists already ({})", pin.display()))
}

pub(crate) fn new_unique_id(registry: &Registry) -> String {
    loop {
        let candidate = id::new_id();
        if registry.find_container(id::short_id(&candidate)).is_err() {
            return candidate;
        }
    }
}

fn resolve_network_mode(registry: &Registry, mode: Option<&str>) -> Result<(NetworkMode, Option<Network>)> {
    match mode.unwrap_or("default") {
        "none" => Ok((NetworkMode::None, None)),
        "host" => Ok((NetworkMode::Host, None)),
        "default" | "" => Ok((NetworkMode::Networks, Some(registry.find_network(DEFAULT_NETWORK)?.clone()))),
        name => Ok((NetworkMode::Networks, Some(registry.find_network(name)?.clone()))),
    }
}

impl Daemon {
    pub async fn inspect_container(
        &self,
        key: &str,
    ) -> Result<netctl_model::api_containers::ContainerInspect> {
        let registry = self.registry.lock().await;
        let c = registry.find_container(key)?;
        Ok(self.container_view(&registry, c))
    }

    /// Running containers, or all with `all`; newest first, as `docker ps`.
    pub async fn list_containers(&self, all: bool) -> Vec<netctl_model::api_containers::ContainerInspect> {
        let registry = self.registry.lock().await;
        let mut list: Vec<&Container> = registry.containers().filter(|c| all || c.is_running()).collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        list.into_iter().map(|c| self.container_view(&registry, c)).collect()
    }
}
