using System.Runtime.Versioning;

// Network namespaces, nsenter and the box: Linux only.
[assembly: SupportedOSPlatform("linux")]
