namespace Waypoint.Box.Tests;

/// <summary>
/// Every test that runs a box is in this collection: one box at a time (each holds about 0.85 GB and both cores while
/// it boots). The shared box is a class fixture, so it is gone before the classes that start their own run.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BoxCollectionDefinition
{
    public const string Name = "Box";
}
