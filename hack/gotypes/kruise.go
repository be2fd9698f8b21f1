package main

// OpenKruise 1.9's apps.kruise.io/v1beta1 SidecarSet types that its revisions and hashes encode
// (apis/apps/v1beta1/sidecarset_types.go in openkruise/kruise v1.9.0). The module is not on the
// proxy here, so they are transcribed: only JSON names, Go types and tag options matter, and these
// are the only hand-written entries of the field table.

import corev1 "k8s.io/api/core/v1"

type SidecarContainer struct {
	corev1.Container        `json:",inline"`
	PodInjectPolicy         string                          `json:"podInjectPolicy,omitempty"`
	UpgradeStrategy         SidecarContainerUpgradeStrategy `json:"upgradeStrategy,omitempty"`
	ShareVolumePolicy       ShareVolumePolicy               `json:"shareVolumePolicy,omitempty"`
	ShareVolumeDevicePolicy *ShareVolumePolicy              `json:"shareVolumeDevicePolicy,omitempty"`
	TransferEnv             []TransferEnvVar                `json:"transferEnv,omitempty"`
	ResourcesPolicy         *ResourcesPolicy                `json:"resourcesPolicy,omitempty"`
}

type ShareVolumePolicy struct {
	Type string `json:"type,omitempty"`
}

type TransferEnvVar struct {
	SourceContainerName     string                     `json:"sourceContainerName,omitempty"`
	SourceContainerNameFrom *SourceContainerNameSource `json:"sourceContainerNameFrom,omitempty"`
	EnvName                 string                     `json:"envName,omitempty"`
	EnvNames                []string                   `json:"envNames,omitempty"`
}

type SourceContainerNameSource struct {
	FieldRef *corev1.ObjectFieldSelector `json:"fieldRef,omitempty"`
}

type ResourcesPolicy struct {
	TargetContainersMode      string        `json:"targetContainersMode"`
	TargetContainersNameRegex string        `json:"targetContainersNameRegex,omitempty"`
	ResourcesExpr             ResourcesExpr `json:"resourcesExpr"`
}

type ResourcesExpr struct {
	Limits   *ResourceExprLimits   `json:"limits,omitempty"`
	Requests *ResourceExprRequests `json:"requests,omitempty"`
}

type ResourceExprLimits struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

type ResourceExprRequests struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

type SidecarContainerUpgradeStrategy struct {
	UpgradeType          string `json:"upgradeType,omitempty"`
	HotUpgradeEmptyImage string `json:"hotUpgradeEmptyImage,omitempty"`
}

type SidecarSetPatchPodMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	PatchPolicy string            `json:"patchPolicy,omitempty"`
}

// SidecarSetSpec: the spec fields a revision records or the hash reads (the others do not reach
// the revision data: getPatch copies only these five keys).
type SidecarSetSpec struct {
	InitContainers   []SidecarContainer            `json:"initContainers,omitempty"`
	Containers       []SidecarContainer            `json:"containers,omitempty"`
	Volumes          []corev1.Volume               `json:"volumes,omitempty"`
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	PatchPodMetadata []SidecarSetPatchPodMetadata  `json:"patchPodMetadata,omitempty"`
}
