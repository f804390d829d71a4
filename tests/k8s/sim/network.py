"""The simulated cluster's network: a switch namespace with a bridge, one namespace per pod
(and one for the node: kubelet, KEDA, client tools) with its own address on it, and the
node's probes (HTTP, TCP) made from a thread moved into the node's namespace."""
import ctypes
import os
import socket
import subprocess
import urllib.error
import urllib.request

CLONE_NEWNET = 0x40000000
def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Network:
    def __init__(self, run_id, tmp):
        self.id = run_id
        n = int(run_id, 16)
        self.prefix = f"10.{16 + (n >> 8) % 200}.{n % 256}"
        self.switch = f"tk{run_id}sw"
        self.tmp = tmp
        self.next_ip = 1
        self.namespaces = []
        run("ip", "netns", "add", self.switch)
        self.namespaces.append(self.switch)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        self.node_ns, self.node_ip = self.add_host("node", ip_last=254)

    def add_host(self, tag, ip_last=None):
        """A namespace on the bridge; returns (name, ip)."""
        if ip_last is None:
            ip_last = self.next_ip
            self.next_ip += 1
            if self.next_ip >= 250:
                raise RuntimeError("simulator: out of pod addresses")
        ns = f"tk{self.id}{tag}"
        veth = f"tk{self.id}v{ip_last}"
        ip = f"{self.prefix}.{ip_last}"
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "link", "add", veth + "a", "type", "veth", "peer", "name", veth + "b")
        run("ip", "link", "set", veth + "a", "netns", ns)
        run("ip", "link", "set", veth + "b", "netns", self.switch)
        run("ip", "-n", ns, "link", "set", veth + "a", "name", "eth0")
        run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", self.switch, "link", "set", veth + "b", "master", "br0")
        run("ip", "-n", self.switch, "link", "set", veth + "b", "up")
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        return ns, ip

    def remove_host(self, ns):
        run("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", f"/etc/netns/{ns}"], check=False)
        if ns in self.namespaces:
            self.namespaces.remove(ns)

    def cleanup(self):
        for ns in list(reversed(self.namespaces)):
            self.remove_host(ns)


def enter_netns(ns):
    """Moves the calling thread into a network namespace (its sockets are made there)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def http_get(ip, port, path, timeout):
    """(status, body) or (None, error text); from the calling thread's namespace."""
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:  # connection refused, timeout: the probe fails
        return None, str(e)


def tcp_ok(ip, port, timeout):
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False
