using System.Text;

namespace Waypoint.Box.Pki;

/// <summary>
/// Writes kubeconfig files for the box's API server. The context names the user entry written in the same file: a
/// context naming a missing user sends no credentials at all (the client then acts as <c>system:anonymous</c>).
/// </summary>
public static class Kubeconfig
{
    /// <summary>A kubeconfig authenticating with a client certificate; the user entry is named after the certificate.</summary>
    public static string WriteClientCertificate(string path, Uri server, string caCertificatePath, IssuedCertificate client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return Write(path, server, caCertificatePath, client.Name,
            $"client-certificate: {Quote(client.CertificatePath)}\n      client-key: {Quote(client.KeyPath)}");
    }

    /// <summary>A kubeconfig authenticating with a bearer token (e.g. from a TokenRequest); written with mode 0600.</summary>
    public static string WriteToken(string path, Uri server, string caCertificatePath, string userName, string token) =>
        Write(path, server, caCertificatePath, userName, $"token: {Quote(token)}");

    private static string Write(string path, Uri server, string caCertificatePath, string userName, string credentials)
    {
        ArgumentNullException.ThrowIfNull(server);
        var text = new StringBuilder()
            .Append("apiVersion: v1\nkind: Config\n")
            .Append("clusters:\n- name: box\n  cluster:\n")
            .Append("    server: ").Append(Quote(server.ToString().TrimEnd('/'))).Append('\n')
            .Append("    certificate-authority: ").Append(Quote(caCertificatePath)).Append('\n')
            .Append("users:\n- name: ").Append(Quote(userName)).Append("\n  user:\n      ").Append(credentials).Append('\n')
            .Append("contexts:\n- name: box\n  context:\n    cluster: box\n    user: ").Append(Quote(userName)).Append('\n')
            .Append("current-context: box\n")
            .ToString();
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        using var writer = new StreamWriter(stream);
        writer.Write(text);
        return path;
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
