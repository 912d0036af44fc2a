/* A synchronous DNS client, as glibc's getaddrinfo asks: one A query
 * outstanding on a connected UDP socket, the next sent when the answer is in.
 * Cycles through the names of NAMES_FILE (one a line). Prints one JSON line:
 * queries, wall seconds, p50/p99/mean latency in ns.
 * usage: sync_client IP PORT NAMES_FILE COUNT */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s IP PORT NAMES_FILE COUNT\n", argv[0]); return 2; }
    long count = atol(argv[4]);
    FILE *f = fopen(argv[3], "r");
    if (!f) { perror("names"); return 1; }
    static unsigned char q[4096][80];
    static int qlen[4096];
    int n = 0;
    char line[128];
    while (n < 4096 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        size_t l = strlen(line);
        if (l == 0 || l > 63) continue;
        unsigned char *p = q[n];
        memset(p, 0, 12);
        p[2] = 0x01; p[5] = 1;           /* RD, one question */
        p[12] = l; memcpy(p + 13, line, l);
        p[13 + l] = 0; p[14 + l] = 0; p[15 + l] = 1; p[16 + l] = 0; p[17 + l] = 1; /* A IN */
        qlen[n++] = 18 + l;
    }
    if (n == 0) { fprintf(stderr, "no names\n"); return 1; }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    long *lat = malloc(sizeof(long) * count);
    unsigned char buf[1500];
    long lost = 0, t0 = now_ns();
    double sum = 0;
    for (long i = 0; i < count; i++) {
        int k = i % n;
        q[k][0] = i >> 8; q[k][1] = i;
        long t = now_ns();
        send(s, q[k], qlen[k], 0);
        ssize_t r;
        do { r = recv(s, buf, sizeof buf, 0); } while (r >= 2 && (buf[0] != q[k][0] || buf[1] != q[k][1]));
        if (r < 12) lost++;
        lat[i] = now_ns() - t;
        sum += lat[i];
    }
    double wall = (now_ns() - t0) / 1e9;
    qsort(lat, count, sizeof(long), cmp);
    printf("{\"queries\": %ld, \"lost\": %ld, \"wall_s\": %.4f, \"p50_ns\": %ld, \"p99_ns\": %ld, \"mean_ns\": %.0f}\n",
           count, lost, wall, lat[count / 2], lat[count * 99 / 100], sum / count);
    return 0;
}
