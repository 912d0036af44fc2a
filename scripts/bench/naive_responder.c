/* The floor for the DNS benchmark: a UDP "server" that does no DNS at all.
 * recvfrom, set the QR bit, sendto. usage: naive_responder PORT */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    unsigned char buf[4096];
    for (;;) {
        struct sockaddr_in peer; socklen_t len = sizeof peer;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n < 12) continue;
        buf[2] |= 0x80;
        sendto(s, buf, n, 0, (struct sockaddr *)&peer, len);
    }
}
