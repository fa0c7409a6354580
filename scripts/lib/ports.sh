# Sourced by the scripts that start Redis Cluster nodes (test.sh, cluster.sh).
#
#   free_cluster_port   prints a free loopback port whose cluster bus port (10,000 higher)
#                       exists and is free too: a node on a port above 55535 does not start.
free_cluster_port() {
    python3 -c '
import socket
while True:
    s, bus = socket.socket(), socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        if port <= 55535:
            bus.bind(("127.0.0.1", port + 10000))
            break
    except OSError:
        pass
print(port)'
}
