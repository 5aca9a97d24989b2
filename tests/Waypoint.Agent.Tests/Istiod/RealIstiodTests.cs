using Waypoint.TestKit.Box;

namespace Waypoint.Agent.Tests.Istiod;

/// <summary>
/// The agent's tests against the real istiod share one box, one class at a time: the outage tests pause and restart
/// its istiod, which the other classes must not see mid-call.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealIstiodTests : ICollectionFixture<SharedBoxFixture>
{
    public const string Name = "Real istiod";
}
