"""Realistic OpenKruise objects (shapes from the OpenKruise docs and the spec's examples)."""

from __future__ import annotations

from typing import Any

import yaml

ASTS_V1BETA1 = """
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata:
  name: sample
  namespace: default
  uid: 0b1c6a3e-8f1d-4c55-9f43-5e2a7f9d1a11
  resourceVersion: "12345"
  generation: 3
  creationTimestamp: "2025-01-01T00:00:00Z"
  labels:
    app: sample
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"apps.kruise.io/v1beta1"}'
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: apps.kruise.io/v1beta1
    time: "2025-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {"f:replicas": {}}}
spec:
  replicas: 5
  serviceName: fake-service
  selector:
    matchLabels:
      app: sample
    matchExpressions:
    - key: tier
      operator: In
      values: [web, api]
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: sample
        tier: web
    spec:
      readinessGates:
      - conditionType: InPlaceUpdateReady
      containers:
      - name: main
        image: nginx:alpine
        ports:
        - name: web
          containerPort: 80
          protocol: TCP
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
        resources: {}
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
  volumeClaimUpdateStrategy:
    type: OnDelete
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      podUpdatePolicy: InPlaceIfPossible
      maxUnavailable: 20%
      partition: 0
      minReadySeconds: 10
      paused: false
      inPlaceUpdateStrategy:
        gracePeriodSeconds: 10
      unorderedUpdate:
        priorityStrategy:
          weightPriority:
          - weight: 50
            matchSelector:
              matchLabels:
                test-key: foo
          - weight: 30
            matchSelector:
              matchLabels:
                test-key: bar
  reserveOrdinals: [1, "3-5"]
  lifecycle:
    preDelete:
      finalizersHandler: [example.com/pre-delete-hook]
      markPodNotReady: true
    inPlaceUpdate:
      labelsHandler:
        example.com/unready-blocker: "true"
  scaleStrategy:
    maxUnavailable: 2
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Delete
    whenScaled: Retain
  ordinals:
    start: 0
  revisionHistoryLimit: 10
  aFutureField:
    nested: [1, "two", null, {x: false}]
status:
  observedGeneration: 3
  replicas: 5
  readyReplicas: 4
  availableReplicas: 4
  currentReplicas: 3
  updatedReplicas: 2
  updatedReadyReplicas: 1
  updatedAvailableReplicas: 1
  currentRevision: sample-7d9f8c6b5
  updateRevision: sample-5c8b7d9f4
  collisionCount: 0
  labelSelector: app=sample,tier in (api,web)
  conditions:
  - type: FailedCreatePod
    status: "True"
    lastTransitionTime: "2025-01-01T00:01:00Z"
    reason: FailedCreate
    message: "StatefulPodControl failed to create Pod error: quota exceeded"
"""

ASTS_V1ALPHA1 = """
apiVersion: apps.kruise.io/v1alpha1
kind: StatefulSet
metadata:
  name: web
  namespace: demo
spec:
  replicas: 3
  serviceName: nginx
  podManagementPolicy: OrderedReady
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      partition: 1
      maxUnavailable: 1
      podUpdatePolicy: ReCreate
  revisionHistoryLimit: 5
status:
  observedGeneration: 1
  replicas: 3
  readyReplicas: 3
  availableReplicas: 3
  currentReplicas: 3
  updatedReplicas: 3
  currentRevision: web-6d4b9c7f8
  updateRevision: web-6d4b9c7f8
  labelSelector: app=web
"""

BROADCASTJOB = """
apiVersion: apps.kruise.io/v1alpha1
kind: BroadcastJob
metadata:
  name: download-image
  namespace: default
spec:
  parallelism: 10%
  template:
    metadata:
      labels:
        job: download
    spec:
      containers:
      - name: download-image
        image: docker.io/library/nginx:1.14.2
        command: ["echo", "started"]
      restartPolicy: Never
      tolerations:
      - operator: Exists
  completionPolicy:
    type: Always
    activeDeadlineSeconds: 600
    ttlSecondsAfterFinished: 30
  failurePolicy:
    type: FailFast
    restartLimit: 3
  paused: false
status:
  active: 0
  succeeded: 3
  failed: 0
  desired: 3
  phase: completed
  startTime: "2025-01-01T00:00:00Z"
  completionTime: "2025-01-01T00:00:40Z"
  conditions:
  - type: Complete
    status: "True"
    lastProbeTime: "2025-01-01T00:00:40Z"
    lastTransitionTime: "2025-01-01T00:00:40Z"
    reason: Complete
    message: Job completed, 3 pods succeeded, 0 pods failed
"""

SIDECARSET = """
apiVersion: apps.kruise.io/v1alpha1
kind: SidecarSet
metadata:
  name: log-sc
  labels:
    apps.kruise.io/sidecarset-custom-version: v2
  annotations:
    kruise.io/sidecarset-hash: x2z5b
    kruise.io/sidecarset-hash-without-image: bd7c4
spec:
  selector:
    matchLabels:
      app: nginx
  namespaceSelector:
    matchLabels:
      team: a
  updateStrategy:
    type: RollingUpdate
    maxUnavailable: 20%
    partition: 0
    paused: false
    priorityStrategy:
      orderPriority:
      - orderedKey: priority
    scatterStrategy:
    - key: zone
      value: "*"
  injectionStrategy:
    paused: false
    revision:
      customVersion: v1
      policy: Partial
  initContainers:
  - name: init-config
    image: busybox:1.36
    command: ["sh", "-c", "echo init"]
    podInjectPolicy: AfterAppContainer
    upgradeStrategy:
      upgradeType: ColdUpgrade
    shareVolumePolicy:
      type: disabled
  - name: proxy
    image: envoyproxy/envoy:v1.30
    restartPolicy: Always
    resourcesPolicy:
      targetContainersMode: sum
      targetContainersNameRegex: ^main$
      resourcesExpr:
        limits:
          cpu: max(cpu*50%, 50m)
          memory: 200Mi
        requests:
          cpu: max(cpu*50%, 50m)
  containers:
  - name: log-agent
    image: fluent/fluent-bit:2.2
    command: ["/fluent-bit/bin/fluent-bit"]
    podInjectPolicy: BeforeAppContainer
    shareVolumePolicy:
      type: enabled
    shareVolumeDevicePolicy:
      type: disabled
    transferEnv:
    - sourceContainerName: main
      envName: TZ
    - sourceContainerNameFrom:
        fieldRef:
          apiVersion: v1
          fieldPath: metadata.labels['main-container']
      envNames: [LANG, LC_ALL]
    volumeMounts:
    - name: log-volume
      mountPath: /var/log/app
    upgradeStrategy:
      upgradeType: ColdUpgrade
    resources:
      limits:
        cpu: 100m
        memory: 128Mi
    env:
    - name: LOG_LEVEL
      value: info
  - name: hot-proxy
    image: openkruise/hotupgrade-sample:sidecarv1
    upgradeStrategy:
      upgradeType: HotUpgrade
      hotUpgradeEmptyImage: openkruise/hotupgrade-sample:empty
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "/migrate.sh"]
  volumes:
  - name: log-volume
    emptyDir: {}
  imagePullSecrets:
  - name: registry-secret
  patchPodMetadata:
  - annotations:
      oom-score: '{"log-agent": 1}'
    patchPolicy: MergePatchJson
  - annotations:
      example.com/logging: enabled
    patchPolicy: Retain
  revisionHistoryLimit: 5
status:
  observedGeneration: 2
  matchedPods: 10
  updatedPods: 8
  readyPods: 9
  updatedReadyPods: 8
  latestRevision: log-sc-6c9d7b8f5
  collisionCount: 0
"""


def load(text: str) -> dict[str, Any]:
    value = yaml.safe_load(text)
    assert isinstance(value, dict)
    return value


ALL = {
    "asts-v1beta1": ASTS_V1BETA1,
    "asts-v1alpha1": ASTS_V1ALPHA1,
    "broadcastjob": BROADCASTJOB,
    "sidecarset": SIDECARSET,
}
