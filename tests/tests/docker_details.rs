//! Docker's details a Docker user meets in the first hour (issue 13), each as the
//! user sees it: `run` without `--`, /sys/class/net inside a container, and a
//! hostname with a domain in /etc/hosts.

use netctl_tests::Sandbox;

#[test]
fn run_takes_the_command_without_a_double_dash() {
    let sb = Sandbox::new();
    sb.start_daemon();
    // The first word that is not an option starts the command; its options are its own.
    assert_eq!(sb.netctl("run --rm -e A=1 sh -c 'echo $A $0' x").ok().trimmed(), "1 x");
    assert_eq!(sb.netctl("run --rm echo -n -e 'a\\tb'").ok().stdout, "a\tb");
    assert_eq!(sb.netctl("run --rm -- echo dashed").ok().trimmed(), "dashed");
    let none = sb.netctl("run --rm").fail();
    assert!(none.stderr.contains("CMD"), "{}", none.stderr);
}

#[test]
fn a_container_sees_its_own_interfaces_and_its_hostname_with_its_domain() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n1").ok();
    let own = sb.netctl("run --rm --net n1 ls /sys/class/net").ok();
    let mut names: Vec<&str> = own.stdout.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["eth0", "lo"], "the host's bridges must not show: {}", own.stdout);
    // exec enters the same view.
    sb.netctl("run -d --name web1 --net n1 --hostname h1.example.org sleep 600").ok();
    let exec = sb.netctl("exec web1 -- ls /sys/class/net").ok();
    assert!(!exec.stdout.contains("n1") && exec.stdout.contains("eth0"), "{}", exec.stdout);
    let inspect = sb.netctl("inspect web1").ok().json();
    let ip = inspect[0]["NetworkSettings"]["Networks"]["n1"]["IPAddress"].as_str().unwrap().to_string();
    let hosts = sb.netctl("exec web1 -- cat /etc/hosts").ok();
    assert!(hosts.stdout.contains(&format!("{ip}\th1.example.org h1\n")), "{}", hosts.stdout);
    assert_eq!(sb.netctl("exec web1 -- hostname").ok().trimmed(), "h1.example.org");
}
