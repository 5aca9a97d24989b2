// The box, its node and the client pod's network namespace exist only on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
