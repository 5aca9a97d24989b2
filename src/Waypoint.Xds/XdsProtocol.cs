namespace Waypoint.Xds;

/// <summary>Which ADS variant a stream speaks (Envoy's <c>ads_config.api_type</c> GRPC or DELTA_GRPC).</summary>
public enum XdsProtocol
{
    /// <summary>State of the world (<c>StreamAggregatedResources</c>, api_type GRPC).</summary>
    StateOfTheWorld,

    /// <summary>Incremental (<c>DeltaAggregatedResources</c>, api_type DELTA_GRPC).</summary>
    Delta,
}
