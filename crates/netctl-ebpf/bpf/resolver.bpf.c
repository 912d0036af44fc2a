// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * netctl's 127.0.0.11 fast path: answers the common question (one A or AAAA
 * query for a single-label container name, with or without EDNS) inside the
 * asker's own sendto(), on clsact egress of the container namespace's `lo`.
 *
 * Ordering with the namespace's stateless nft rewrite (table ip netctl_dns,
 * output hook, raw priority): tc egress runs after netfilter's output hook, so
 * a query seen here already has its destination port rewritten to the
 * listener's port; the program accepts that port (from the view) or 53. The
 * answer is written in place (addresses and ports swapped, source
 * 127.0.0.11:53) and the packet continues with TC_ACT_OK: loopback hands it to
 * ingress, where no rewrite applies, and the asking socket receives it from
 * 127.0.0.11:53 as from the listener. bpf_redirect(lo, INGRESS) is not used: a
 * reply to 127.0.0.1 re-routed on lo is a martian unless route_localnet=1.
 *
 * Anything else (another type, a name with a dot, a name not held in the
 * asker's view, TCP, IP options, fragments, an unusual header, more than
 * MAX_ADDRS addresses) is left untouched (TC_ACT_OK on the original packet),
 * and the userspace resolver answers it as it always did. The kernel answers
 * only positive hits: NXDOMAIN, NODATA and forwarding stay in userspace.
 *
 * The answer is byte for byte what netctl_dns::fastpath writes: the header
 * with QR, AA, RA and the query's RD, the question as asked, one record per
 * address (name pointer 0xc00c, the configured TTL), and when the query had an
 * OPT record an OPT of our own (UDP size 1232, version 0, no flags, no
 * options: the DO bit is not echoed, cookies are not answered).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_NAME 64
#define MAX_ADDRS 8
#define MAX_SLOTS 8
#define MAX_QUERY 512
#define MAX_OPTS 8
#define VIEW_PASS 1
#define OUR_UDP_SIZE 1232
#define RESOLVER_IP 0x7f00000b /* 127.0.0.11 */
#define L4_OFF (sizeof(struct ethhdr) + sizeof(struct iphdr))
#define DNS_OFF (L4_OFF + sizeof(struct udphdr))

#ifdef NETCTL_PIN
#define PIN __uint(pinning, LIBBPF_PIN_BY_NAME);
#else
#define PIN
#endif

/* (network slot, family, lowercase name) → that network's holders' addresses. */
struct name_key {
	__u32 slot;
	__u16 qtype;
	__u8 len;
	__u8 pad;
	__u8 name[MAX_NAME];
};

struct name_val {
	/* More than MAX_ADDRS: left to userspace. */
	__u32 count;
	__u8 addrs[MAX_ADDRS][16];
};

/* What one namespace (by netns cookie) may resolve: its networks' slots. */
struct view_val {
	__u32 flags;
	__u16 udp_port;
	__u16 nslots;
	__u32 slots[MAX_SLOTS];
};

struct config {
	__u32 ttl;
	__u32 pad;
};

struct scratch {
	__u8 q[1024];
	__u8 addrs[MAX_ADDRS][16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct name_key);
	__type(value, struct name_val);
	PIN
} netctl_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct view_val);
	PIN
} netctl_views SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
	PIN
} netctl_config SEC(".maps");

/* 0: answered here; 1: questions to 127.0.0.11 left to userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	PIN
} netctl_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} netctl_scratch SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&netctl_stats, &what);
	if (n)
		*n += 1;
}

static __always_inline __u32 be16(const __u8 *q, __u32 at)
{
	at &= MAX_QUERY - 1;
	return ((__u32)q[at] << 8) | q[at + 1];
}

static __always_inline int lower(__u8 c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
		return c;
	return -1;
}

/* Has the whole query been parsed as the userspace fast path parses it? 0: yes. */
static __always_inline int parse(const __u8 *q, __u32 plen, struct name_key *key, __u32 *qend, int *edns)
{
	__u32 flags = be16(q, 2);
	if ((flags & 0xf800) || be16(q, 4) != 1 || be16(q, 6) != 0 || be16(q, 8) != 0)
		return -1;
	__u32 ar = be16(q, 10);
	if (ar > 1)
		return -1;
	__u32 len = q[12];
	if (len < 1 || len > MAX_NAME - 1)
		return -1;
	for (__u32 i = 0; i < MAX_NAME - 1; i++) {
		if (i >= len)
			break;
		int c = lower(q[13 + i]);
		if (c < 0)
			return -1;
		key->name[i] = c;
	}
	/* Read again: the verifier then carries one state on, not one per length. */
	len = q[12] & (MAX_NAME - 1);
	key->len = len;
	if (q[13 + len] != 0)
		return -1; /* a second label, or a compression pointer */
	__u32 at = 14 + len;
	__u32 qtype = be16(q, at);
	if (be16(q, at + 2) != 1 || (qtype != 1 && qtype != 28))
		return -1;
	key->qtype = qtype;
	at += 4;
	*qend = at;
	*edns = 0;
	if (ar == 0)
		return at == plen ? 0 : -1;
	/* The OPT record: root name, type 41, class = UDP size, extended RCODE 0,
	 * version 0, flags, then well-formed options (no client subnet). */
	if (at + 11 > plen || q[at] != 0 || be16(q, at + 1) != 41 || be16(q, at + 5) != 0)
		return -1;
	__u32 end = at + 11 + be16(q, at + 9);
	if (end != plen)
		return -1;
	at += 11;
	for (int k = 0; k < MAX_OPTS; k++) {
		if (at >= end)
			break;
		if (at + 4 > end || be16(q, at) == 8)
			return -1;
		at += 4 + be16(q, at + 2);
	}
	if (at != end)
		return -1;
	*edns = 1;
	return 0;
}

static __always_inline int pass(void)
{
	count(1);
	return TC_ACT_OK;
}

SEC("classifier")
int netctl_dns(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = data + L4_OFF;

	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->version != 4 ||
	    ip->protocol != IPPROTO_UDP || ip->daddr != bpf_htonl(RESOLVER_IP))
		return TC_ACT_OK;
	if (ip->frag_off & bpf_htons(0x3fff))
		return pass();
	__u64 cookie = bpf_get_netns_cookie(skb);
	struct view_val *view = bpf_map_lookup_elem(&netctl_views, &cookie);
	if (!view)
		return TC_ACT_OK; /* not a namespace of ours */
	__u16 dport = bpf_ntohs(udp->dest);
	if (dport != 53 && dport != view->udp_port)
		return TC_ACT_OK;
	if (view->flags & VIEW_PASS)
		return pass();
	__u32 ulen = bpf_ntohs(udp->len);
	if (bpf_ntohs(ip->tot_len) != skb->len - sizeof(*eth) || ulen != skb->len - L4_OFF)
		return pass();
	__u32 plen = ulen - sizeof(struct udphdr);
	if (plen < 12 || plen > MAX_QUERY)
		return pass();

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&netctl_scratch, &zero);
	struct config *cfg = bpf_map_lookup_elem(&netctl_config, &zero);
	if (!s || !cfg)
		return pass();
	if (bpf_skb_load_bytes(skb, DNS_OFF, s->q, plen))
		return pass();
	struct name_key key = {};
	__u32 qend;
	int edns;
	if (parse(s->q, plen, &key, &qend, &edns))
		return pass();

	/* The holders' addresses on the asker's networks. A name held on two of
	 * them (a union to be made) is left to userspace. */
	struct name_val *found = 0;
	for (__u32 i = 0; i < MAX_SLOTS; i++) {
		if (i >= view->nslots)
			break;
		key.slot = view->slots[i];
		struct name_val *v = bpf_map_lookup_elem(&netctl_names, &key);
		if (!v)
			continue;
		if (found)
			return pass();
		found = v;
	}
	if (!found)
		return pass(); /* a miss, or NODATA: userspace says which */
	__u32 n = found->count;
	if (n == 0 || n > MAX_ADDRS)
		return pass();
	__u32 alen = key.qtype == 28 ? 16 : 4;
	__builtin_memcpy(s->addrs, found->addrs, sizeof(s->addrs));

	/* Several holders: every order equally likely (Fisher–Yates). */
	for (__u32 i = MAX_ADDRS - 1; i > 0; i--) {
		if (i >= n)
			continue;
		__u32 j = bpf_get_prandom_u32() % (i + 1);
		__u8 tmp[16];
		__builtin_memcpy(tmp, s->addrs[i], 16);
		__builtin_memcpy(s->addrs[i], s->addrs[j & (MAX_ADDRS - 1)], 16);
		__builtin_memcpy(s->addrs[j & (MAX_ADDRS - 1)], tmp, 16);
	}

	n = found->count & (MAX_ADDRS * 2 - 1); /* read again, as len above */
	if (n == 0 || n > MAX_ADDRS)
		return pass();

	/* The answer, written over the query from the end of its question on. */
	__u8 *q = s->q;
	q[2] = 0x80 | 0x04 | (q[2] & 0x01);
	q[3] = 0x80;
	q[6] = 0;
	q[7] = n;
	q[8] = q[9] = q[10] = 0;
	q[11] = edns;
	__u32 ttl = cfg->ttl;
	__u32 at = qend;
	for (__u32 i = 0; i < MAX_ADDRS; i++) {
		if (i >= n)
			break;
		__u8 *rr = &q[at & (MAX_QUERY - 1)];
		rr[0] = 0xc0;
		rr[1] = 0x0c;
		rr[2] = 0;
		rr[3] = key.qtype;
		rr[4] = 0;
		rr[5] = 1;
		rr[6] = ttl >> 24;
		rr[7] = ttl >> 16;
		rr[8] = ttl >> 8;
		rr[9] = ttl;
		rr[10] = 0;
		rr[11] = alen;
		__builtin_memcpy(&rr[12], s->addrs[i], 16); /* 4 of them for A: the rest is overwritten or cut */
		at += 12 + alen;
	}
	if (edns) {
		__u8 *opt = &q[at & (MAX_QUERY - 1)];
		__builtin_memset(opt, 0, 11);
		opt[2] = 41;
		opt[3] = OUR_UDP_SIZE >> 8;
		opt[4] = OUR_UDP_SIZE & 0xff;
		at += 11;
	}
	__u32 out = at;
	if (out < 12 || out > MAX_QUERY)
		return pass();

	struct iphdr iph = *ip;
	struct udphdr udph = *udp;
	struct ethhdr ethh;
	__builtin_memcpy(ethh.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(ethh.h_source, eth->h_dest, ETH_ALEN);
	ethh.h_proto = eth->h_proto;
	if (bpf_skb_change_tail(skb, DNS_OFF + out, 0))
		return pass(); /* unchanged: the query goes on to userspace */

	iph.daddr = iph.saddr;
	iph.saddr = bpf_htonl(RESOLVER_IP);
	iph.tot_len = bpf_htons(sizeof(iph) + sizeof(udph) + out);
	iph.ttl = 64;
	iph.check = 0;
	__u32 sum = 0;
	__u16 *w = (__u16 *)&iph;
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	iph.check = ~sum;
	udph.dest = udph.source;
	udph.source = bpf_htons(53);
	udph.len = bpf_htons(sizeof(udph) + out);
	udph.check = 0; /* no checksum: allowed for UDP over IPv4, and lo never corrupts */

	/* After change_tail a failed store leaves a broken packet: drop it rather
	 * than send it (the client asks again; userspace answers then). */
	if (bpf_skb_store_bytes(skb, 0, &ethh, sizeof(ethh), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(ethh), &iph, sizeof(iph), 0) ||
	    bpf_skb_store_bytes(skb, L4_OFF, &udph, sizeof(udph), 0) ||
	    bpf_skb_store_bytes(skb, DNS_OFF, s->q, out, 0))
		return TC_ACT_SHOT;
	count(0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
