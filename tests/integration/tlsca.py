"""tlsca.py - a throwaway certificate authority for the TLS tests, made at
test time with the openssl command (Debian's openssl package).

    ca = CA(directory)                       # a new CA: ca.cert, ca.key
    cert, key = ca.issue("node1", ips=["127.0.0.11"])
    cert, key = ca.issue("old", ips=[...], start="20200101000000Z",
                         end="20200201000000Z")       # expired
    cert, key = ca.issue("n", ips=[...], key=key)      # same key, new cert

Keys are EC P-256 (fast to make), files of mode 600; certificates name
their IP addresses (and DNS names) as subjectAltName, and have the
extended key usages serverAuth and clientAuth unless eku= says otherwise.
`openssl ca` signs them, so any validity dates can be asked for.
"""

import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def available():
    return os.access(OPENSSL, os.X_OK)


def _run(*args):
    p = subprocess.run([OPENSSL] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s"
                           % (" ".join(args), p.returncode,
                              p.stderr.decode(errors="replace")))
    return p.stdout


def new_key(path):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)
    return path


_CA_CONF = """\
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = %(dir)s
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
default_md = sha256
default_days = 365
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
"""


class CA:
    def __init__(self, directory, name="raftd test CA"):
        self.dir = os.path.abspath(directory)
        os.makedirs(os.path.join(self.dir, "issued"), exist_ok=True)
        self.key = new_key(os.path.join(self.dir, "ca.key"))
        self.cert = os.path.join(self.dir, "ca.pem")
        _run("req", "-x509", "-new", "-key", self.key, "-subj", "/CN=" + name,
             "-days", "3650", "-out", self.cert,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(self.dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(_CA_CONF % {"dir": self.dir})
        self.n = 0

    def issue(self, name, ips=(), dns=(), start=None, end=None, days=365,
              eku="serverAuth,clientAuth", key=None, directory=None):
        """A certificate for name, signed by this CA: (cert path, key path).
        start/end: openssl dates (YYYYMMDDHHMMSSZ); key: an existing key
        file to certify again; directory: where the files go (default the
        CA's). Each call writes new files."""
        self.n += 1
        d = directory or self.dir
        os.makedirs(d, exist_ok=True)
        base = os.path.join(d, "%s-%d" % (name, self.n))
        key = key or new_key(base + ".key")
        csr, ext, cert = base + ".csr", base + ".ext", base + ".pem"
        _run("req", "-new", "-key", key, "-subj", "/CN=" + name, "-out", csr)
        sans = ["IP:" + ip for ip in ips] + ["DNS:" + n for n in dns]
        with open(ext, "w") as f:
            f.write("basicConstraints = CA:FALSE\n"
                    "keyUsage = critical, digitalSignature, keyEncipherment\n")
            if eku:
                f.write("extendedKeyUsage = %s\n" % eku)
            if sans:
                f.write("subjectAltName = %s\n" % ", ".join(sans))
        args = ["ca", "-batch", "-notext", "-config", self.conf, "-in", csr,
                "-out", cert, "-extfile", ext]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        elif not start:
            args += ["-days", str(days)]
        _run(*args)
        return cert, key


def serial_of(pem_path):
    """The serial number of a PEM certificate file, as lower-case hex."""
    out = _run("x509", "-in", pem_path, "-noout", "-serial").decode()
    return out.strip().split("=", 1)[1].lower()
