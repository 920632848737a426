/*
 * The built-in web server image of minikube-rs (minikube-rs/webserver): listens on port 8000
 * and answers every HTTP request with 200 and a line naming the pod's host name and its IP
 * addresses, the way the workshop's go-webserver does. One child process per connection;
 * exits 0 on SIGTERM or SIGINT. Written for minikube-rs; built statically by build.rs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define PORT 8000

static void on_terminate(int sig) {
    (void)sig;
    _exit(0);
}

/* Appends "ip, ip, ..." of every non-loopback address to buf. */
static void addresses(char *buf, size_t size) {
    struct ifaddrs *list = NULL, *it;
    size_t used = 0;
    buf[0] = '\0';
    if (getifaddrs(&list) < 0) {
        return;
    }
    for (it = list; it != NULL; it = it->ifa_next) {
        char text[INET6_ADDRSTRLEN];
        const void *addr;
        int family;
        if (it->ifa_addr == NULL) {
            continue;
        }
        family = it->ifa_addr->sa_family;
        if (family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)it->ifa_addr;
            if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) {
                continue;
            }
            addr = &in->sin_addr;
        } else if (family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)it->ifa_addr;
            if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) {
                continue;
            }
            addr = &in6->sin6_addr;
        } else {
            continue;
        }
        if (inet_ntop(family, addr, text, sizeof text) == NULL) {
            continue;
        }
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", text);
        if (n < 0 || (size_t)n >= size - used) {
            break;
        }
        used += (size_t)n;
    }
    freeifaddrs(list);
}

static void write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

/* Reads the request head (until an empty line, EOF or 5 s) and answers it. */
static void serve(int fd) {
    char request[8192];
    size_t used = 0;
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    while (used < sizeof request - 1) {
        ssize_t n = read(fd, request + used, sizeof request - 1 - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
        request[used] = '\0';
        if (strstr(request, "\r\n\r\n") != NULL || strstr(request, "\n\n") != NULL) {
            break;
        }
    }
    char host[256] = "unknown";
    char ips[2048];
    char body[2600];
    char head[256];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    addresses(ips, sizeof ips);
    int body_len = snprintf(body, sizeof body, "Hello from %s (%s)\n", host, ips);
    if (body_len < 0) {
        return;
    }
    if ((size_t)body_len >= sizeof body) {
        body_len = (int)sizeof body - 1;
    }
    int head_len = snprintf(head, sizeof head,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n",
                            body_len);
    write_all(fd, head, (size_t)head_len);
    if (strncmp(request, "HEAD ", 5) != 0) {
        write_all(fd, body, (size_t)body_len);
    }
    shutdown(fd, SHUT_WR);
}

static int listen_socket(void) {
    int one = 1, zero = 0;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_in6 addr;
        memset(&addr, 0, sizeof addr);
        addr.sin6_family = AF_INET6;
        addr.sin6_port = htons(PORT);
        addr.sin6_addr = in6addr_any;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            return fd;
        }
        close(fd);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr4;
    memset(&addr4, 0, sizeof addr4);
    addr4.sin_family = AF_INET;
    addr4.sin_port = htons(PORT);
    addr4.sin_addr.s_addr = htonl(INADDR_ANY);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr4, sizeof addr4) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_terminate;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    /* Children are reaped by the kernel. */
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    int fd = listen_socket();
    if (fd < 0 || listen(fd, 128) < 0) {
        perror("webserver: listen on port 8000");
        return 1;
    }
    printf("webserver: listening on port %d\n", PORT);
    fflush(stdout);
    for (;;) {
        int conn = accept(fd, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("webserver: accept");
            sleep(1);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fd);
            signal(SIGTERM, SIG_DFL);
            serve(conn);
            close(conn);
            _exit(0);
        }
        if (pid < 0) {
            serve(conn);
        }
        close(conn);
    }
}
