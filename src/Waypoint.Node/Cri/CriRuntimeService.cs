using System.Reflection;
using Grpc.Core;
using Waypoint.Node.Cri.V1;
using Waypoint.Node.Runtime;
using Waypoint.Node.Streaming;

namespace Waypoint.Node.Cri;

/// <summary><c>runtime.v1.RuntimeService</c> over <see cref="ProcessRuntime"/>: translation only, no state.</summary>
internal sealed class CriRuntimeService(ProcessRuntime runtime, ExecStreamServer streams) : RuntimeService.RuntimeServiceBase
{
    public const string RuntimeName = "waypoint-node";

    private static readonly string RuntimeVersion =
        typeof(CriRuntimeService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1.0";

    public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) => Task.FromResult(new VersionResponse
    {
        Version = "0.1.0",
        RuntimeName = RuntimeName,
        RuntimeVersion = RuntimeVersion,
        RuntimeApiVersion = "v1",
    });

    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var response = new StatusResponse
        {
            Status = new RuntimeStatus
            {
                Conditions =
                {
                    new RuntimeCondition { Type = "RuntimeReady", Status = true },
                    new RuntimeCondition { Type = "NetworkReady", Status = true },
                },
            },
        };
        response.RuntimeHandlers.Add(new RuntimeHandler { Name = string.Empty, Features = new RuntimeHandlerFeatures() });
        return Task.FromResult(response);
    }

    public override Task<RuntimeConfigResponse> RuntimeConfig(RuntimeConfigRequest request, ServerCallContext context) =>
        Task.FromResult(new RuntimeConfigResponse { Linux = new LinuxRuntimeConfiguration { CgroupDriver = CgroupDriver.Cgroupfs } });

    public override Task<UpdateRuntimeConfigResponse> UpdateRuntimeConfig(UpdateRuntimeConfigRequest request, ServerCallContext context) =>
        Task.FromResult(new UpdateRuntimeConfigResponse());

    public override async Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context) =>
        new() { PodSandboxId = await runtime.RunPodSandboxAsync(request.Config, request.RuntimeHandler, context.CancellationToken).ConfigureAwait(false) };

    public override async Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context)
    {
        await runtime.StopPodSandboxAsync(request.PodSandboxId, context.CancellationToken).ConfigureAwait(false);
        return new StopPodSandboxResponse();
    }

    public override async Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context)
    {
        await runtime.RemovePodSandboxAsync(request.PodSandboxId, context.CancellationToken).ConfigureAwait(false);
        return new RemovePodSandboxResponse();
    }

    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context)
    {
        var response = new PodSandboxStatusResponse { Status = runtime.SandboxStatus(request.PodSandboxId) };
        if (request.Verbose && runtime.SandboxNetworkNamespace(request.PodSandboxId) is { } netns)
        {
            response.Info["netns"] = netns;
        }

        return Task.FromResult(response);
    }

    public override Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context) =>
        Task.FromResult(new ListPodSandboxResponse { Items = { runtime.ListSandboxes(request.Filter) } });

    public override Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context) =>
        Task.FromResult(new CreateContainerResponse { ContainerId = runtime.CreateContainer(request.PodSandboxId, request.Config) });

    public override Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context)
    {
        runtime.StartContainer(request.ContainerId);
        return Task.FromResult(new StartContainerResponse());
    }

    public override async Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context)
    {
        await runtime.StopContainerAsync(request.ContainerId, request.Timeout, context.CancellationToken).ConfigureAwait(false);
        return new StopContainerResponse();
    }

    public override async Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context)
    {
        await runtime.RemoveContainerAsync(request.ContainerId, context.CancellationToken).ConfigureAwait(false);
        return new RemoveContainerResponse();
    }

    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) =>
        Task.FromResult(new ListContainersResponse { Containers = { runtime.ListContainers(request.Filter) } });

    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context) =>
        Task.FromResult(runtime.ContainerStatus(request.ContainerId, request.Verbose));

    public override Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context) =>
        Task.FromResult(new UpdateContainerResourcesResponse()); // No cgroups here: resources are not enforced.

    public override Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context)
    {
        runtime.ReopenContainerLog(request.ContainerId);
        return Task.FromResult(new ReopenContainerLogResponse());
    }

    public override Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context) =>
        runtime.ExecSyncAsync(request.ContainerId, request.Cmd, request.Timeout, context.CancellationToken);

    /// <summary>
    /// Streaming exec: checks the container and command now (so the kubelet reports a bad request as such), then
    /// answers with a single-use URL of the runtime's streaming server, where the kubelet proxies the client.
    /// </summary>
    public override Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context)
    {
        if (request.Tty)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                "waypoint-node runs exec commands without a terminal: a TTY (kubectl exec -t) is not supported; exec without -t."));
        }

        if (!request.Stdin && !request.Stdout && !request.Stderr)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Exec needs at least one of stdin, stdout and stderr."));
        }

        _ = runtime.ExecStartInfo(request.ContainerId, request.Cmd);
        var url = streams.Register(new ExecSessionRequest(request.ContainerId, [.. request.Cmd], request.Stdin, request.Stdout, request.Stderr));
        return Task.FromResult(new ExecResponse { Url = url.ToString() });
    }

    /// <summary>
    /// Streaming port-forward: checks the sandbox and ports now, then answers with a single-use URL of the runtime's
    /// streaming server; each port is connected there on 127.0.0.1 inside the sandbox's network namespace.
    /// </summary>
    public override Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context)
    {
        if (request.Port.Any(p => p is < 1 or > 65535) || request.Port.Count > PortForwardProtocol.MaxPorts)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"Port-forward takes at most {PortForwardProtocol.MaxPorts} ports, each 1-65535."));
        }

        var netns = runtime.PortForwardNamespace(request.PodSandboxId);
        var url = streams.Register(new PortForwardSessionRequest(request.PodSandboxId, netns, [.. request.Port]));
        return Task.FromResult(new PortForwardResponse { Url = url.ToString() });
    }

    // No cgroups, so no usage to report: valid, empty answers.
    public override Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context) =>
        Task.FromResult(new ContainerStatsResponse { Stats = new ContainerStats { Attributes = new ContainerAttributes { Id = request.ContainerId } } });

    public override Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context) =>
        Task.FromResult(new ListContainerStatsResponse());

    public override Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context) =>
        Task.FromResult(new PodSandboxStatsResponse { Stats = new PodSandboxStats { Attributes = new PodSandboxAttributes { Id = request.PodSandboxId } } });

    public override Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context) =>
        Task.FromResult(new ListPodSandboxStatsResponse());
}
