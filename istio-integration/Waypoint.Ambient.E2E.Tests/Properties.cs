// The box (network namespaces, setns) exists on Linux only; on kind the suite runs from Linux too (e2e-kind.sh).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
