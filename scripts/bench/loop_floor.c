/* What a UDP serving loop costs the kernel with no DNS at all: every mode answers by
 * setting the QR bit and sending the datagram back. Used by scripts/bench-dns-floor.sh
 * to compare with the naive responder (naive_responder.c, blocking recvfrom + sendto) the
 * multiplexed loops a resolver for many sockets can use. usage: loop_floor MODE PORT
 *   mmsg    epoll_wait + recvmmsg + sendmmsg (netctl's UDP loop, without the lookup)
 *   block   blocking recvmmsg (MSG_WAITFORONE) + sendmmsg on its one socket: what a
 *           thread per container's socket would do, batched
 *   sendto  epoll_wait + recvmmsg + one sendto per answer
 *   uring   io_uring: multishot recvmsg into a provided-buffer ring, sendmsg per answer,
 *           one io_uring_enter per wakeup (built only with -DWITH_URING -luring) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#define VLEN 32
#define BUFSZ 2048

static int bound(int port, int flags) {
    int s = socket(AF_INET, SOCK_DGRAM | flags, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    return s;
}

/* one_sendto_each: a sendto per answer instead of one sendmmsg; blocking: no epoll, the
 * socket is blocking and recvmmsg waits for the first datagram. */
static void batched(int s, int one_sendto_each, int blocking) {
    int ep = -1;
    if (!blocking) { /* an epoll watching the socket costs a callback per datagram */
        ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    }
    static char bufs[VLEN][BUFSZ];
    static struct sockaddr_in6 names[VLEN];
    static struct iovec iov[VLEN], oiov[VLEN];
    static struct mmsghdr in[VLEN], out[VLEN];
    for (int i = 0; i < VLEN; i++) {
        iov[i] = (struct iovec){bufs[i], BUFSZ};
        in[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_iov = &iov[i], .msg_iovlen = 1};
        out[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_iov = &oiov[i], .msg_iovlen = 1};
    }
    for (;;) {
        struct epoll_event evs[64];
        if (!blocking && epoll_wait(ep, evs, 64, -1) <= 0) continue;
        for (int i = 0; i < VLEN; i++) in[i].msg_hdr.msg_namelen = sizeof names[0];
        int n = recvmmsg(s, in, VLEN, blocking ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
        for (int i = 0; i < n; i++) {
            bufs[i][2] |= 0x80;
            if (one_sendto_each) {
                sendto(s, bufs[i], in[i].msg_len, MSG_DONTWAIT, (struct sockaddr *)&names[i], in[i].msg_hdr.msg_namelen);
            } else {
                oiov[i] = (struct iovec){bufs[i], in[i].msg_len};
                out[i].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
            }
        }
        if (n > 0 && !one_sendto_each) sendmmsg(s, out, n, MSG_DONTWAIT);
    }
}

#ifdef WITH_URING
#include <liburing.h>
#include <sys/mman.h>
#define NBUF 256
static void uring(int s) {
    struct io_uring ring;
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(512, &ring, &p) < 0) { fprintf(stderr, "io_uring unavailable\n"); exit(1); }
    struct io_uring_buf_ring *br = mmap(0, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUF, .bgid = 0};
    if (io_uring_register_buf_ring(&ring, &reg, 0)) { fprintf(stderr, "buffer ring unavailable\n"); exit(1); }
    io_uring_buf_ring_init(br);
    static char bufs[NBUF][BUFSZ];
    for (int i = 0; i < NBUF; i++) io_uring_buf_ring_add(br, bufs[i], BUFSZ, i, io_uring_buf_ring_mask(NBUF), i);
    io_uring_buf_ring_advance(br, NBUF);
    struct msghdr mh = {.msg_namelen = sizeof(struct sockaddr_in6)};
    static struct msghdr omh[NBUF];
    static struct iovec oiov[NBUF];
    static struct sockaddr_in6 onames[NBUF];
    static char obuf[NBUF][BUFSZ];
    int arm = 1;
    for (;;) {
        if (arm) {
            struct io_uring_sqe *sq = io_uring_get_sqe(&ring);
            io_uring_prep_recvmsg_multishot(sq, s, &mh, 0);
            sq->flags |= IOSQE_BUFFER_SELECT; sq->buf_group = 0; sq->user_data = 1; arm = 0;
        }
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe; unsigned head, seen = 0; int ns = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            if (cqe->user_data != 1) continue;
            if (!(cqe->flags & IORING_CQE_F_MORE)) arm = 1;
            if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;
            int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(bufs[bid], cqe->res, &mh);
            if (o && ns < NBUF) {
                unsigned len = io_uring_recvmsg_payload_length(o, cqe->res, &mh);
                memcpy(obuf[ns], io_uring_recvmsg_payload(o, &mh), len);
                obuf[ns][2] |= 0x80;
                memcpy(&onames[ns], io_uring_recvmsg_name(o), o->namelen);
                oiov[ns] = (struct iovec){obuf[ns], len};
                omh[ns] = (struct msghdr){.msg_name = &onames[ns], .msg_namelen = o->namelen, .msg_iov = &oiov[ns], .msg_iovlen = 1};
                struct io_uring_sqe *sq = io_uring_get_sqe(&ring);
                if (!sq) { io_uring_submit(&ring); sq = io_uring_get_sqe(&ring); }
                io_uring_prep_sendmsg(sq, s, &omh[ns], 0);
                sq->flags |= IOSQE_CQE_SKIP_SUCCESS; sq->user_data = 2; ns++;
            }
            io_uring_buf_ring_add(br, bufs[bid], BUFSZ, bid, io_uring_buf_ring_mask(NBUF), 0);
            io_uring_buf_ring_advance(br, 1);
        }
        io_uring_cq_advance(&ring, seen);
    }
}
#endif

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s mmsg|block|sendto|uring PORT\n", argv[0]); return 2; }
    int port = atoi(argv[2]);
    if (!strcmp(argv[1], "mmsg")) batched(bound(port, SOCK_NONBLOCK), 0, 0);
    else if (!strcmp(argv[1], "block")) batched(bound(port, 0), 0, 1);
    else if (!strcmp(argv[1], "sendto")) batched(bound(port, SOCK_NONBLOCK), 1, 0);
#ifdef WITH_URING
    else if (!strcmp(argv[1], "uring")) uring(bound(port, SOCK_NONBLOCK));
#endif
    else { fprintf(stderr, "unknown mode %s\n", argv[1]); return 2; }
}
