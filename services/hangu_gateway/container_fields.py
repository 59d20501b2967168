"""Docker's container Config and HostConfig field names against the proto
field names: one table read both ways (create requests in, inspect out)."""

from __future__ import annotations

# (Docker key, proto field) for fields copied as they are: scalars, string
# lists and string maps.
CONFIG_PLAIN: tuple[tuple[str, str], ...] = (
    ("Hostname", "hostname"), ("Domainname", "domainname"), ("User", "user"),
    ("AttachStdin", "attach_stdin"), ("AttachStdout", "attach_stdout"),
    ("AttachStderr", "attach_stderr"), ("Tty", "tty"), ("OpenStdin", "open_stdin"),
    ("StdinOnce", "stdin_once"), ("Env", "env"), ("ArgsEscaped", "args_escaped"),
    ("Image", "image"), ("WorkingDir", "working_dir"),
    ("NetworkDisabled", "network_disabled"), ("MacAddress", "mac_address"),
    ("OnBuild", "on_build"), ("Labels", "labels"), ("StopSignal", "stop_signal"),
    ("Shell", "shell"),
)

HOST_PLAIN: tuple[tuple[str, str], ...] = (
    ("Binds", "binds"), ("ContainerIDFile", "container_id_file"),
    ("NetworkMode", "network_mode"), ("AutoRemove", "auto_remove"),
    ("VolumeDriver", "volume_driver"), ("VolumesFrom", "volumes_from"),
    ("CapAdd", "cap_add"), ("CapDrop", "cap_drop"), ("CgroupnsMode", "cgroupns_mode"),
    ("Dns", "dns"), ("DnsOptions", "dns_options"), ("DnsSearch", "dns_search"),
    ("ExtraHosts", "extra_hosts"), ("GroupAdd", "group_add"), ("IpcMode", "ipc_mode"),
    ("Cgroup", "cgroup"), ("Links", "links"), ("OomScoreAdj", "oom_score_adj"),
    ("PidMode", "pid_mode"), ("Privileged", "privileged"),
    ("PublishAllPorts", "publish_all_ports"), ("ReadonlyRootfs", "readonly_rootfs"),
    ("SecurityOpt", "security_opt"), ("StorageOpt", "storage_opt"), ("Tmpfs", "tmpfs"),
    ("UTSMode", "uts_mode"), ("UsernsMode", "userns_mode"), ("ShmSize", "shm_size"),
    ("Sysctls", "sysctls"), ("Runtime", "runtime"), ("Isolation", "isolation"),
    ("CpuShares", "cpu_shares"), ("Memory", "memory"), ("CgroupParent", "cgroup_parent"),
    ("CpuPeriod", "cpu_period"), ("CpuQuota", "cpu_quota"), ("NanoCpus", "nano_cpus"),
    ("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems"),
    ("MemoryReservation", "memory_reservation"), ("MemorySwap", "memory_swap"),
    ("OomKillDisable", "oom_kill_disable"), ("PidsLimit", "pids_limit"),
    ("Init", "init"), ("MaskedPaths", "masked_paths"), ("ReadonlyPaths", "readonly_paths"),
    ("BlkioWeight", "blkio_weight"), ("DeviceCgroupRules", "device_cgroup_rules"),
    ("ConsoleSize", "console_size"),
)

# HostConfig keys hangu does not implement: a request setting any of them to
# a non-empty value is refused with 400 rather than silently ignored.
HOST_UNSUPPORTED: tuple[str, ...] = (
    "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
    "CpuRealtimeRuntime", "DeviceRequests", "KernelMemoryTCP", "CpuCount", "CpuPercent",
    "IOMaximumIOps", "IOMaximumBandwidth", "Annotations",
)
