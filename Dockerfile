# syntax=docker/dockerfile:1
# One image for every role: `waypoint controller` (controller + xDS server) and `waypoint agent` (SDS beside Envoy).
# Build: docker build -t waypoint:dev .

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# The Envoy API protos are unpacked from npm at build time (build/envoy-api/prepare.mjs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Restore first so that source edits do not invalidate the package layer.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY build/ build/
COPY protos/ protos/
COPY src/ src/
RUN node build/envoy-api/prepare.mjs \
 && dotnet restore src/Waypoint.Host/Waypoint.Host.csproj
RUN dotnet publish src/Waypoint.Host/Waypoint.Host.csproj -c Release --no-restore -o /out \
    -p:UseAppHost=true -p:DebugType=none

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
LABEL org.opencontainers.image.title="waypoint" \
      org.opencontainers.image.description="Istio ambient waypoint on upstream Envoy: controller, xDS server and SDS agent"
WORKDIR /app
COPY --from=build /out/ ./
# Non-root: the runtime image's `app` user (uid 1654). Waypoint pods run the agent as uid 101 (Envoy's) through
# their pod securityContext; nothing in /app needs to be writable.
USER $APP_UID
# Workstation GC comes from waypoint.runtimeconfig.json (src/Waypoint.Host/Waypoint.Host.csproj), as on the box.
ENV DOTNET_TieredPGO=1 \
    ASPNETCORE_URLS=
# xDS (mutual TLS, 15012; 15010 with --xds-insecure) and health (15021).
EXPOSE 15012 15021
ENTRYPOINT ["/app/waypoint"]
CMD ["controller"]
