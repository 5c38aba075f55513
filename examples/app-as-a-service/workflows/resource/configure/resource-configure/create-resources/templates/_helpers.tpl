{{- /* The container name `kubectl create deployment --image=IMAGE` gives: the image's last path
       element without its tag or digest, with `_` as `-`. */ -}}
{{- define "app.containerName" -}}
{{ regexReplaceAll "[:@].*$" (regexReplaceAll "^.*/" .spec.image "") "" | replace "_" "-" }}
{{- end -}}
