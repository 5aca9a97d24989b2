using System.Net;
using BenchmarkDotNet.Attributes;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;

namespace Waypoint.Benchmarks;

/// <summary>Encoding a large snapshot: 10,000 EDS clusters with 3 endpoints each (every resource serialized and hashed once).</summary>
[MemoryDiagnoser]
public class XdsSnapshotBenchmarks
{
    private Cluster[] _clusters = [];
    private ClusterLoadAssignment[] _endpoints = [];

    [Params(10_000)]
    public int Clusters { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _clusters = Enumerable.Range(0, Clusters).Select(i => XdsTestResources.EdsCluster($"kube_ns{i % 50}_svc{i}_8080")).ToArray();
        _endpoints = Enumerable.Range(0, Clusters).Select(i => XdsTestResources.Endpoints(
            $"kube_ns{i % 50}_svc{i}_8080",
            new IPEndPoint(new IPAddress([10, (byte)(i >> 8), (byte)i, 1]), 8080),
            new IPEndPoint(new IPAddress([10, (byte)(i >> 8), (byte)i, 2]), 8080),
            new IPEndPoint(new IPAddress([10, (byte)(i >> 8), (byte)i, 3]), 8080))).ToArray();
    }

    [Benchmark]
    public XdsSnapshot CreateSnapshot() => XdsSnapshot.Create([], [], _clusters, _endpoints);
}
