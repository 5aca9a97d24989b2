using System.Runtime.Versioning;

// Network namespaces, setns(2) and the Kubernetes binaries: the box is Linux only.
[assembly: SupportedOSPlatform("linux")]
