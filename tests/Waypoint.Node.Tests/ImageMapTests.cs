using Waypoint.Node.Cri.V1;
using Waypoint.Node.Images;
using Waypoint.Node.Runtime;

namespace Waypoint.Node.Tests;

public sealed class ImageMapTests
{
    private static readonly ImageMap Map = ImageMap.Default(["/usr/bin/dotnet", "/opt/waypoint/waypoint.dll"], "/opt/envoy/envoy", "/opt/tools/curl");

    [Theory]
    [InlineData("ghcr.io/waypoint-mesh/waypoint:0.1.0", "/opt/waypoint/waypoint.dll")]
    [InlineData("waypoint/agent:dev", "/opt/waypoint/waypoint.dll")]
    [InlineData("envoyproxy/envoy:v1.36.2", "/opt/envoy/envoy")]
    [InlineData("docker.io/envoyproxy/envoy:v1.36.2", "/opt/envoy/envoy")]
    [InlineData("waypoint/echo", "echo")]
    [InlineData("waypoint/echo:latest", "echo")]
    [InlineData("ghcr.io/mccutchen/go-httpbin:v2.15.0", "--httpbin")]
    [InlineData("mccutchen/go-httpbin", "--httpbin")]
    [InlineData("curlimages/curl:8.11.1", "/opt/tools/curl")]
    [InlineData("docker.io/curlimages/curl:8.11.1", "/opt/tools/curl")]
    public void Known_Images_Map_To_Host_Executables(string image, string lastEntrypointWord)
    {
        Assert.Equal(lastEntrypointWord, Map.Resolve(image)?.Entrypoint[^1]);
    }

    [Theory]
    [InlineData("nginx:1.27")]
    [InlineData("waypoint/echoes")]
    [InlineData("ghcr.io/other/waypoint:1")]
    [InlineData("")]
    public void Other_Images_Are_Unknown(string image)
    {
        Assert.Null(Map.Resolve(image));
    }

    [Fact]
    public void Without_Envoy_The_Envoy_Image_Is_Unknown()
    {
        var map = ImageMap.Default(["/opt/waypoint/waypoint"], null);

        Assert.Null(map.Resolve("envoyproxy/envoy:v1.36.2"));
        Assert.NotNull(map.Resolve("waypoint/echo"));
    }

    [Fact]
    public void Without_A_Host_Curl_The_Tools_Image_Is_Unknown()
    {
        var map = ImageMap.Default(["/opt/waypoint/waypoint"], null, curlExecutable: null);

        Assert.Null(map.Resolve("curlimages/curl:8.11.1"));
        Assert.Equal(["/opt/waypoint/waypoint", "echo", "--httpbin"], map.Resolve("ghcr.io/mccutchen/go-httpbin:v2.15.0")!.Entrypoint);
    }

    [Fact]
    public void The_Tools_Image_Runs_Host_Binaries_For_The_Commands_It_Names()
    {
        var curl = Map.Resolve("curlimages/curl:8.11.1")!;

        // The suite's client: `command: [sleep, infinity]` runs the host's sleep; `curl ...` (exec) the mapped curl.
        Assert.Equal(["sleep", "infinity"], ProcessRuntime.CommandLine(curl, new ContainerConfig { Command = { "sleep", "infinity" } }));
        Assert.Equal(["/opt/tools/curl", "-s", "http://x"], ProcessRuntime.CommandLine(curl, new ContainerConfig { Command = { "curl" }, Args = { "-s", "http://x" } }));
        Assert.Equal(["/opt/tools/curl"], ProcessRuntime.CommandLine(curl, new ContainerConfig()));
    }

    [Fact]
    public void Each_Tag_Is_Its_Own_Image_And_Registry_Spelling_Does_Not_Matter()
    {
        Assert.NotEqual(ImageMap.ImageId("envoyproxy/envoy:v1"), ImageMap.ImageId("envoyproxy/envoy:v2"));
        Assert.Equal(ImageMap.ImageId("envoyproxy/envoy:v1"), ImageMap.ImageId("docker.io/envoyproxy/envoy:v1"));
    }

    [Fact]
    public void A_Relative_Entrypoint_Is_Refused()
    {
        Assert.Throws<ArgumentException>(() => new ImageMap([new ImageMapping { Pattern = "x/y", Entrypoint = ["envoy"] }]));
    }

    [Fact]
    public void The_Pod_Command_Replaces_The_Entrypoint_Unless_It_Names_It()
    {
        var envoy = Map.Resolve("envoyproxy/envoy:v1.36.2")!;
        var waypoint = Map.Resolve("waypoint/agent")!;

        Assert.Equal(["/opt/envoy/envoy", "-c", "/etc/envoy/b.yaml"], ProcessRuntime.CommandLine(envoy, new ContainerConfig { Args = { "-c", "/etc/envoy/b.yaml" } }));
        Assert.Equal(["/opt/envoy/envoy", "--x", "-c", "b"], ProcessRuntime.CommandLine(envoy, new ContainerConfig { Command = { "envoy", "--x" }, Args = { "-c", "b" } }));
        Assert.Equal(["/usr/bin/dotnet", "/opt/waypoint/waypoint.dll", "agent"], ProcessRuntime.CommandLine(waypoint, new ContainerConfig { Args = { "agent" } }));
        Assert.Equal(["sh", "-c", "true"], ProcessRuntime.CommandLine(envoy, new ContainerConfig { Command = { "sh", "-c", "true" } }));
    }
}
